"""A directory from CSV exports (a student information system's families export, HR's staff export).

Every file is read into memory and indexed by email and E.164 phone, so a lookup never touches the disk.
A changed file is noticed by its modification time and read again off the request path; until the new
index is ready, lookups use the old one. A file that cannot be read keeps its last good rows.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.directory.base import Entry, Kind
from gateway.intake.languages import language_code
from gateway.models import Role
from gateway.settings import CsvSource
from normalizers.phone import US, PhoneRules

log = logging.getLogger("intake.directory.csv")

ROLES: frozenset[str] = frozenset({"parent", "student", "staff", "community"})


@dataclass
class _Index:
    by_email: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    by_phone: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    rows: int = 0


@dataclass
class _Loaded:
    entries: list[Entry]
    mtime_ns: int  # of the rows in `entries`
    error: str | None = None
    failed_mtime_ns: int | None = None  # the version that could not be read: not read again until it changes


class BadExport(ValueError):
    """The file is not the export the configuration describes (its message names no person)."""


def _role(source: CsvSource, raw: str) -> Role:
    value = raw.strip()
    if not value:
        return source.role
    mapped = {k.casefold(): v for k, v in source.role_map.items()}.get(value.casefold())
    if mapped:
        return mapped
    lowered = value.casefold()
    return lowered if lowered in ROLES else source.role  # type: ignore[return-value]


def read_source(source: CsvSource, rules: PhoneRules) -> list[Entry]:
    """Every row of one export as an Entry. Raises OSError, csv.Error, UnicodeDecodeError or BadExport."""
    cols = source.columns
    with open(source.path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = set(reader.fieldnames or ())
        wanted = [cols.id, cols.display_name, *cols.email, *cols.phone]
        wanted += [c for c in (cols.role, cols.school, cols.language, cols.household) if c]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise BadExport(f"missing column(s) {', '.join(missing)}")
        entries = []
        for n, row in enumerate(reader, start=2):
            ident = (row.get(cols.id) or "").strip() or f"{Path(source.path).name}:{n}"
            emails = tuple(dict.fromkeys(v.strip().lower() for c in cols.email if (v := row.get(c) or "").strip()))
            phones = tuple(dict.fromkeys(p for c in cols.phone if (p := rules.e164(row.get(c) or "")) is not None))
            if not emails and not phones:
                continue
            entries.append(
                Entry(
                    id=ident,
                    display_name=(row.get(cols.display_name) or "").strip(),
                    role=_role(source, row.get(cols.role) or "" if cols.role else ""),
                    school=(row.get(cols.school) or "").strip() or None if cols.school else None,
                    language=language_code(row.get(cols.language)) if cols.language else None,
                    household=(row.get(cols.household) or "").strip() or None if cols.household else None,
                    emails=emails,
                    phones=phones,
                )
            )
        return entries


class CsvDirectory:
    """All configured CSV files as one in-memory directory."""

    name = "csv"
    blocking = False

    def __init__(
        self,
        sources: list[CsvSource],
        phones: PhoneRules = US,
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = sources
        self.phones = phones
        self.check_every_s = check_every_s
        self.clock = clock
        self._loaded: dict[str, _Loaded] = {}
        self._index = _Index()
        self._next_check = 0.0
        self._reloading = threading.Lock()
        self.reload()

    def reload(self) -> bool:
        """Read every file whose modification time changed; rebuild the index. True when something changed."""
        with self._reloading:
            changed = False
            for source in self.sources:
                try:
                    mtime = Path(source.path).stat().st_mtime_ns
                except OSError as exc:
                    changed |= self._failed(source, f"cannot read: {type(exc).__name__}", None)
                    continue
                old = self._loaded.get(source.path)
                if old is not None and mtime in (old.mtime_ns if old.error is None else None, old.failed_mtime_ns):
                    continue
                try:
                    entries = read_source(source, self.phones)
                except (OSError, csv.Error, ValueError) as exc:
                    why = str(exc) if isinstance(exc, BadExport) else type(exc).__name__
                    changed |= self._failed(source, why, mtime)
                    continue
                self._loaded[source.path] = _Loaded(entries, mtime)
                log.info("directory file loaded", extra={"file": source.path, "rows": len(entries)})
                changed = True
            if changed:
                self._index = self._build()
            self._next_check = self.clock() + self.check_every_s
            return changed

    def _failed(self, source: CsvSource, why: str, mtime: int | None) -> bool:
        old = self._loaded.get(source.path)
        if old is None or old.error != why or old.failed_mtime_ns != mtime:  # once per problem, not every check
            log.warning(
                "directory file not loaded; keeping its last good rows", extra={"file": source.path, "why": why}
            )
        self._loaded[source.path] = _Loaded(old.entries if old else [], old.mtime_ns if old else -1, why, mtime)
        return old is None

    def _build(self) -> _Index:
        index = _Index()
        for loaded in self._loaded.values():
            for e in loaded.entries:
                for email in e.emails:
                    index.by_email[email].append(e)
                for phone in e.phones:
                    index.by_phone[phone].append(e)
                index.rows += 1
        return index

    def due_for_check(self) -> bool:
        return self.clock() >= self._next_check and not self._reloading.locked()

    def lookup(self, kind: Kind, value: str) -> list[Entry]:
        index = self._index  # one reference: a reload swaps the whole index, never half of it
        table = index.by_email if kind == "email" else index.by_phone
        return list(table.get(value, ()))

    def health(self) -> dict[str, object]:
        files: dict[str, dict[str, object]] = {}
        for path, loaded in self._loaded.items():
            files[path] = {"rows": len(loaded.entries), "ok": loaded.error is None}
            if loaded.error:
                files[path]["error"] = loaded.error
        return {"ok": all(f["ok"] for f in files.values()), "rows": self._index.rows, "files": files}
