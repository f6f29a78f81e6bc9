"""Talking to Redmine: python-redmine, with every HTTP call paced and every failure one of our BackendErrors.

python-redmine takes its transport as an engine class (its documented `engine=` option). Ours is its
own synchronous engine with two additions: it takes a token from the shared Pacer before each call (the
library makes several calls for one operation: uploads, pages of results), and it turns an answer or a
failure into the kind of error the worker acts on, keeping what python-redmine drops: `Retry-After`, a 5xx
other than 500, and Redmine's own words in a 422.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from redminelib import Redmine
from redminelib.engines.sync import SyncEngine
from redminelib.exceptions import BaseRedmineError

from workers.backends.errors import (
    BackendAuthFailed,
    BackendRateLimited,
    BackendRefused,
    BackendUnavailable,
)
from workers.backends.pacing import Pacer, PacingTimeout
from workers.backends.redmine.settings import RedmineSettings

NAME = "redmine"


class RedmineNotFound(BackendRefused):
    """A 404: the issue or project does not exist, or the API user is not allowed to see it."""


def retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds, whether it gives seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def redmine_errors(response: requests.Response) -> str:
    """The messages of a 422 as Redmine words them ("Project cannot be blank; Tracker cannot be blank")."""
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        return response.text[:200]
    return "; ".join(": ".join(e) if isinstance(e, list) else str(e) for e in errors) or "unprocessable"


class PacedEngine(SyncEngine):  # type: ignore[misc]
    """python-redmine's synchronous engine, paced across workers, answering in BackendErrors."""

    def __init__(self, **options: Any) -> None:
        self.pacer: Pacer | None = options.pop("pacer", None)
        super().__init__(**options)

    def request(self, method: str, url: str, headers: Any = None, params: Any = None, data: Any = None) -> Any:
        where = f"{method.upper()} {urlsplit(url).path}"
        if self.pacer is not None:
            try:
                self.pacer.take()
            except PacingTimeout as exc:
                raise BackendRateLimited(NAME, f"{where}: paced: {exc}", retry_after_s=None) from None
        try:
            return super().request(method, url, headers=headers, params=params, data=data)
        except requests.RequestException as exc:
            raise BackendUnavailable(NAME, f"{where}: {type(exc).__name__}") from None
        except BaseRedmineError as exc:  # a 2xx whose body is not JSON: a proxy's page, not Redmine
            raise BackendUnavailable(NAME, f"{where}: {type(exc).__name__}") from None

    def process_response(self, response: requests.Response) -> Any:
        status = response.status_code
        if status < 400:
            return super().process_response(response)
        where = f"{response.request.method} {urlsplit(response.url).path}"
        if status == 429:
            retry = retry_after_s(response.headers.get("Retry-After"))
            raise BackendRateLimited(NAME, f"{where}: 429 too many requests", retry_after_s=retry)
        if status in (401, 403):
            raise BackendAuthFailed(
                NAME,
                f"{where}: {status}: Redmine refused the API key, or its REST API is off "
                "(Administration » Settings » API), or the API user's role lacks the permission",
            )
        if status == 404:
            raise RedmineNotFound(NAME, f"{where}: 404: not found, or not visible to the API user")
        if status == 422:
            raise BackendRefused(NAME, f"{where}: {redmine_errors(response)}")
        if status >= 500 or status == 408:
            raise BackendUnavailable(NAME, f"{where}: {status} {response.reason}")
        raise BackendRefused(NAME, f"{where}: {status} {response.reason}")


def connect(conf: RedmineSettings, pacer: Pacer | None) -> Any:
    """A python-redmine client for the configured Redmine, authenticated by the API key (a header, never the URL)."""
    options: dict[str, Any] = {"timeout": conf.timeout_s}
    if conf.ca_file:
        options["verify"] = conf.ca_file
    return Redmine(conf.url, key=conf.api_key.get_secret_value(), requests=options, engine=PacedEngine, pacer=pacer)


def _key(name: str | int) -> str:
    return str(name).strip().casefold()


class Names:
    """Redmine's trackers, statuses, priorities and custom fields: a name from the config (or an id) to an id.

    Each list is read once and kept for `ttl_s`, so a district that renames a status is followed within minutes
    and a busy worker does not ask for the same lists on every ticket.
    """

    def __init__(self, api: Any, ttl_s: float = 300.0) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self._lists: dict[str, tuple[float, dict[str, int]]] = {}
        self._closed: set[int] = set()
        self._me: int | None = None

    def _cached(self, what: str, load: Any) -> dict[str, int]:
        at, table = self._lists.get(what, (0.0, {}))
        if not table or time.monotonic() - at > self.ttl_s:
            table = load()
            self._lists[what] = (time.monotonic(), table)
        return table

    def _statuses(self) -> dict[str, int]:
        table: dict[str, int] = {}
        for s in self.api.issue_status.all():
            table[_key(s.name)] = int(s.id)
            if getattr(s, "is_closed", False):
                self._closed.add(int(s.id))
        return table

    def _named(self, what: str, ref: str | int, table: dict[str, int]) -> int:
        if isinstance(ref, int) or str(ref).isdigit():
            if int(ref) in table.values():
                return int(ref)
        elif _key(ref) in table:
            return table[_key(ref)]
        known = ", ".join(sorted(k for k in table)) or "none visible to the API user"
        raise BackendRefused(NAME, f"no {what} {ref!r} in Redmine (known: {known})")

    def tracker(self, ref: str | int) -> int:
        table = self._cached("trackers", lambda: {_key(t.name): int(t.id) for t in self.api.tracker.all()})
        return self._named("tracker", ref, table)

    def status(self, ref: str | int) -> int:
        return self._named("status", ref, self._cached("statuses", self._statuses))

    def status_table(self) -> dict[str, int]:
        return self._cached("statuses", self._statuses)

    def is_closed(self, status_id: int) -> bool:
        self.status_table()
        return status_id in self._closed

    def priority(self, ref: str | int) -> int:
        load = lambda: {_key(p.name): int(p.id) for p in self.api.enumeration.filter(resource="issue_priorities")}  # noqa: E731
        return self._named("priority", ref, self._cached("priorities", load))

    def custom_field(self, ref: str | int, project: str) -> int:
        """A custom field's id. A number is taken as it is; a name is looked up where a non-admin can see it."""
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        return self._named("custom field", ref, self._cached(f"fields:{project}", lambda: self._fields(project)))

    def _fields(self, project: str) -> dict[str, int]:
        # The full list is for administrators only; a member sees the fields enabled on the project by name, and
        # every field that applies to an issue it can read (fields "for all projects" show only there).
        try:
            return {_key(f.name): int(f.id) for f in self.api.custom_field.all() if f.customized_type == "issue"}
        except BackendAuthFailed:
            pass
        enabled = _project(self.api, project, "issue_custom_fields").issue_custom_fields
        table = {_key(f.name): int(f.id) for f in enabled}
        for issue in self.api.issue.filter(project_id=project, status_id="*", limit=1):
            table.update({_key(f.name): int(f.id) for f in issue.custom_fields})
            break
        return table

    def me(self) -> int:
        """The API user's own id: what it wrote (the family's follow-ups, our notes) never comes back as news."""
        if self._me is None:
            self._me = int(self.api.user.get("current").id)
        return self._me


def _project(api: Any, identifier: str, *include: str) -> Any:
    return api.project.get(identifier, include=list(include))


def project(api: Any, identifier: str) -> Any:
    """The project with its trackers; RedmineNotFound when it does not exist or the API user is not a member."""
    return _project(api, identifier, "trackers")
