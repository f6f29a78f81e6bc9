"""The directory's side of "who is asking": entries, the Directory protocol, households, and the lookup cache.

Sources (gateway/directory_csv.py, gateway/directory_ldap.py) return `Entry` rows for one email or one
E.164 phone; `match_for` turns those rows into the one requester they describe. Several people behind one
address is a family sharing it: the answer is their household, never one of them picked by guess.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gateway.models import Role

Kind = Literal["email", "phone"]


class DirectoryUnavailable(Exception):
    """The directory could not answer (down, refused our bind, timed out). Never a reason to refuse a request."""


@dataclass(frozen=True)
class Entry:
    """One person in a directory export or an LDAP entry, already mapped to our fields."""

    id: str
    display_name: str
    role: Role
    school: str | None = None
    language: str | None = None
    household: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """The requester a lookup found: one person, or the household behind a shared address."""

    directory_id: str
    display_name: str
    role: Role
    campuses: tuple[str, ...] = ()
    language: str | None = None
    source: str = ""
    household: bool = False
    members: int = 1


class Directory(Protocol):
    """A source of people. `blocking` sources (network) are called off the event loop, under a timeout."""

    name: str
    blocking: bool

    def lookup(self, kind: Kind, value: str) -> list[Entry]:
        """Every entry whose email (lower-cased) or phone (E.164) is `value`. Raises DirectoryUnavailable."""
        ...

    def health(self) -> dict[str, object]:
        """What `intake doctor` shows: reachable or loaded, and how many rows; never a person's data."""
        ...


def _surname(name: str) -> str:
    parts = name.split()
    return parts[-1] if len(parts) > 1 else ""


def _household_name(entries: Sequence[Entry]) -> str:
    adults = [e for e in entries if e.role != "student"] or list(entries)
    surnames = {_surname(e.display_name) for e in entries if e.display_name}
    if len(surnames) == 1 and "" not in surnames:
        return f"{surnames.pop()} household"
    names = list(dict.fromkeys(e.display_name for e in adults if e.display_name))
    return "Household: " + ", ".join(names) if names else "Household"


def _schools(entries: Sequence[Entry]) -> tuple[str, ...]:
    # Students first: a household's schools are where its children are.
    ordered = sorted(entries, key=lambda e: e.role != "student")
    return tuple(dict.fromkeys(e.school for e in ordered if e.school))


def _language(entries: Sequence[Entry]) -> str | None:
    adults = [e.language for e in entries if e.language and e.role != "student"]
    anyone = [e.language for e in entries if e.language]
    found = adults or anyone
    return found[0] if found else None


def match_for(entries: Sequence[Entry], source: str, kind: Kind, value: str) -> Match | None:
    """The requester behind `value`: None, the one person, or the household of everyone sharing it."""
    people = list({e.id: e for e in entries}.values())
    if not people:
        return None
    if len(people) == 1:  # one person, maybe on several rows (a guardian row per child): every row's school
        e = people[0]
        return Match(e.id, e.display_name, e.role, _schools(entries), e.language, source)
    households = {e.household for e in people}
    if len(households) == 1 and None not in households:
        household_id = f"household:{households.pop()}"
    else:
        # No shared household id: the address itself is the household (a digest, so the id shows no phone).
        household_id = f"household:{kind}-{hashlib.sha256(value.encode()).hexdigest()[:12]}"
    staff_only = all(e.role == "staff" for e in people)
    role: Role = "staff" if staff_only else "parent"
    name = _household_name(people) if not staff_only else "Shared staff address"
    return Match(household_id, name, role, _schools(entries), _language(people), source, True, len(people))


@dataclass
class _Cached:
    match: Match | None
    expires: float


@dataclass
class LookupCache:
    """Answers kept for `ttl_s` (found) or `negative_ttl_s` (not found); least recently used first out."""

    ttl_s: float
    negative_ttl_s: float
    max_entries: int
    clock: Callable[[], float] = time.monotonic
    _items: OrderedDict[tuple[str, Kind, str], _Cached] = field(default_factory=OrderedDict)

    def get(self, source: str, kind: Kind, value: str) -> tuple[bool, Match | None]:
        """(hit, match). A miss and an expired answer are both (False, None)."""
        key = (source, kind, value)
        item = self._items.get(key)
        if item is None:
            return False, None
        if item.expires <= self.clock():
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, item.match

    def put(self, source: str, kind: Kind, value: str, match: Match | None) -> None:
        ttl = self.ttl_s if match is not None else self.negative_ttl_s
        if ttl <= 0:
            return
        key = (source, kind, value)
        self._items[key] = _Cached(match, self.clock() + ttl)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
