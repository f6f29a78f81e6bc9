"""Who is asking: the pipeline step that fills a message's Requester from the directory.

Looks up the channel's email and E.164 phone (a Slack user's email comes from the Slack channel as
`requester.email`) in each configured directory, first match wins. The request path never waits
longer than the LDAP timeout for the whole step: a slow or down directory is abandoned (and left alone
for `retry_after_s`), and intake goes on with what the channel told us. An abandoned lookup that
finishes later still fills the cache for the next message. What the channel said is never replaced by
a blank, nor by the directory's opinion of a field the channel filled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.directory.base import Directory, DirectoryUnavailable, Entry, Kind, LookupCache, Match, match_for
from gateway.directory.csv_files import CsvDirectory
from gateway.directory.ldap import LdapDirectory
from gateway.errors import ConfigError
from gateway.metrics import Metrics
from gateway.models import InboundMessage
from gateway.settings import IdentitySettings
from normalizers.phone import US, PhoneRules

log = logging.getLogger("intake.identity")

LOOKUP_THREADS = 4
_EMAIL = "@"


@dataclass(frozen=True)
class Identified:
    message: InboundMessage
    directory_language: str | None = None
    match: Match | None = None


def lookup_keys(message: InboundMessage, phones: PhoneRules = US) -> list[tuple[Kind, str]]:
    """The addresses to look up, most specific first: the channel's email, phone, then the sender itself."""
    keys: list[tuple[Kind, str]] = []
    r = message.requester
    for raw in (r.email, message.sender if _EMAIL in message.sender else None):
        if raw and _EMAIL in raw:
            keys.append(("email", raw.strip().lower()))
    for raw in (r.phone, message.sender if _EMAIL not in message.sender else None):
        phone = phones.e164(raw) if raw else None
        if phone:
            keys.append(("phone", phone))
    return list(dict.fromkeys(keys))


def merge(message: InboundMessage, kind: Kind, value: str, match: Match) -> InboundMessage:
    """The message with the directory's answer filled in where the channel left a blank."""
    r = message.requester
    campuses = tuple(dict.fromkeys(c for c in (r.campus, *match.campuses) if c))
    # model_copy keeps which fields the channel set (the language step reads whether it set a locale).
    requester = r.model_copy(
        update={
            "display_name": r.display_name or match.display_name,
            "email": r.email or (value if kind == "email" else None),
            "phone": r.phone or (value if kind == "phone" else None),
            "role": r.role if r.role != "unknown" else match.role,
            "campus": r.campus or (campuses[0] if campuses else None),
            "campuses": campuses,
            "directory_id": match.directory_id,
        }
    )
    campus = message.campus or (requester.campus if len(campuses) == 1 else None)
    return message.model_copy(update={"requester": requester, "campus": campus})


class IdentityResolver:
    """Fills the Requester from the directories. One per process; `resolve` is called on the request path."""

    def __init__(
        self,
        directories: list[Directory],
        cache: LookupCache,
        *,
        timeout_s: float,
        retry_after_s: float,
        phones: PhoneRules = US,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.directories = directories
        self.metrics = metrics
        self.cache = cache
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.phones = phones
        self.clock = clock
        self._down_until: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="directory")
        self._reloads: set[asyncio.Future[bool]] = set()

    @classmethod
    def from_settings(
        cls, conf: IdentitySettings, source_file: str = "", metrics: Metrics | None = None
    ) -> IdentityResolver | None:
        """None when no directory is configured: the step is skipped. ConfigError when a CSV file is unusable."""
        if not conf.enabled:
            return None
        directories: list[Directory] = []
        if conf.csv:
            csv_directory = CsvDirectory(conf.csv, conf.phones, conf.reload_check_s)
            problems = csv_problems(conf, csv_directory, source_file)
            if problems:
                raise ConfigError(problems)
            directories.append(csv_directory)
        if conf.ldap.url:
            directories.append(LdapDirectory(conf.ldap, conf.phones))
        cache = LookupCache(conf.cache_ttl_s, conf.negative_cache_ttl_s, conf.cache_max_entries)
        return cls(
            directories,
            cache,
            timeout_s=conf.ldap.timeout_ms / 1000,
            retry_after_s=conf.ldap.retry_after_s,
            phones=conf.phones,
            metrics=metrics,
        )

    async def resolve(self, message: InboundMessage) -> Identified:
        """The message with its Requester filled in (or unchanged), within `timeout_s` whatever the directories do."""
        self._refresh_files()
        deadline = self.clock() + self.timeout_s
        for kind, value in lookup_keys(message, self.phones):
            for directory in self.directories:
                match = await self._find(directory, kind, value, deadline)
                if match is not None:
                    return Identified(merge(message, kind, value, match), match.language, match)
        return Identified(message)

    async def _find(self, directory: Directory, kind: Kind, value: str, deadline: float) -> Match | None:
        hit, match = self.cache.get(directory.name, kind, value)
        if not hit:
            if directory.blocking:
                match = await self._find_blocking(directory, kind, value, deadline)
            else:  # in memory already: caching it would only duplicate it
                match = match_for(directory.lookup(kind, value), directory.name, kind, value)
                if match is None:
                    self._count(directory.name, "not_found")
        if match is not None:
            self._count(directory.name, "household" if match.household else "found")
        return match

    def _count(self, directory: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.directory_lookups.labels(directory, outcome).inc()

    async def _find_blocking(self, directory: Directory, kind: Kind, value: str, deadline: float) -> Match | None:
        name = directory.name
        now = self.clock()
        busy = self._in_flight.get(name, 0) >= LOOKUP_THREADS  # every thread stuck on it: do not queue behind
        if self._down_until.get(name, 0.0) > now or deadline <= now or busy:
            self._count(name, "skipped")
            return None
        self._in_flight[name] = self._in_flight.get(name, 0) + 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, directory.lookup, kind, value)
        future.add_done_callback(lambda f: self._finished(directory, kind, value, f))
        try:
            entries: list[Entry] = await asyncio.wait_for(asyncio.shield(future), deadline - now)
        except TimeoutError:
            self._mark_down(name, "timed out", "timeout")
            return None
        except DirectoryUnavailable as exc:
            self._mark_down(name, str(exc), "unavailable")
            return None
        except Exception as exc:  # a client library's bug must not cost a family their request
            self._mark_down(name, type(exc).__name__, "unavailable")
            return None
        match = match_for(entries, name, kind, value)
        if match is None:
            self._count(name, "not_found")
        return match

    def _finished(self, directory: Directory, kind: Kind, value: str, future: asyncio.Future[list[Entry]]) -> None:
        # Runs on the loop once the thread is done, even after the request stopped waiting for it.
        self._in_flight[directory.name] -= 1
        if future.cancelled() or future.exception() is not None:
            return
        self.cache.put(directory.name, kind, value, match_for(future.result(), directory.name, kind, value))

    def _mark_down(self, name: str, why: str, outcome: str) -> None:
        self._count(name, outcome)
        if self._down_until.get(name, 0.0) <= self.clock():
            log.warning(
                "directory unavailable: going on with what the channel told us",
                extra={"directory": name, "why": why, "retry_after_s": self.retry_after_s},
            )
        self._down_until[name] = self.clock() + self.retry_after_s

    def _refresh_files(self) -> None:
        """A changed CSV file is read again on a thread; lookups use the old rows until it is ready."""
        for d in self.directories:
            if isinstance(d, CsvDirectory) and d.due_for_check() and not self._reloads:
                reload = asyncio.get_running_loop().run_in_executor(self._pool, d.reload)
                self._reloads.add(reload)
                reload.add_done_callback(self._reloads.discard)

    def health(self) -> dict[str, dict[str, object]]:
        """Each directory's health (blocking: asks LDAP). For `intake doctor`, never the request path."""
        return {d.name: d.health() for d in self.directories}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for d in self.directories:
            if isinstance(d, LdapDirectory):
                d.close()


def csv_problems(conf: IdentitySettings, directory: CsvDirectory | None = None, source_file: str = "") -> list[str]:
    """At start, an export that cannot be read is a configuration error (later, its last good rows are kept)."""
    directory = directory or CsvDirectory(conf.csv, conf.phones)
    files = directory.health()["files"]
    assert isinstance(files, dict)
    where = f"{source_file}: " if source_file else ""
    return [
        f"{where}key identity.csv[{i}].path: {source.path}: {files[source.path]['error']}"
        f" (fix the path, or identity.csv[{i}].columns to name this file's headers)"
        for i, source in enumerate(conf.csv)
        if not files.get(source.path, {}).get("ok", False)
    ]


def directory_report(conf: IdentitySettings) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) per configured directory, for `intake doctor`: rows loaded, LDAP reachable and bound."""
    out: list[tuple[str, bool, str]] = []
    if conf.csv:
        csv_health = CsvDirectory(conf.csv, conf.phones).health()
        files = csv_health["files"]
        assert isinstance(files, dict)
        problems = [f"{path}: {f['error']}" for path, f in files.items() if not f["ok"]]
        detail = f"{csv_health['rows']} row(s) from {len(files)} file(s)" + "".join(f"\n    {p}" for p in problems)
        out.append(("directory csv", bool(csv_health["ok"]), detail))
    if conf.ldap.url:
        ldap = LdapDirectory(conf.ldap, conf.phones)
        try:
            ldap_health = ldap.health()
        finally:
            ldap.close()
        detail = "reachable, bind and search allowed" if ldap_health["ok"] else str(ldap_health["error"])
        out.append((f"directory ldap {conf.ldap.url}", bool(ldap_health["ok"]), detail))
    return out
