"""Rule conditions. Each is built once at load (patterns compiled) and answers, for a message, why it matched.

`check` returns a short explanation ("keyword 'lockout' in text") or None when the condition does
not hold. Explanations quote what the operator wrote or the matched word, never a whole message.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import regex

from gateway.calendars.calendar import Calendar
from gateway.models import InboundMessage
from gateway.routing.text import MAX_SEARCH_CHARS, KeywordMatcher, fold, search, words


class Facts:
    """What a rule can look at: the message, the instant it arrived, the district's ad-hoc closures.

    Built once per message on the request path, so a plain slotted class rather than a dataclass.
    """

    __slots__ = ("closures", "folded", "message", "now")

    def __init__(self, message: InboundMessage, now: datetime, closures: Set[date]) -> None:
        self.message = message
        self.now = now
        self.closures = closures
        # Folded subject/text and their words, computed once per message however many keyword rules look.
        self.folded: dict[str, tuple[str, frozenset[str]]] = {}

    def folded_text(self, target: str) -> tuple[str, frozenset[str]]:
        found = self.folded.get(target)
        if found is None:
            text = fold(_field_text(self.message, target)[:MAX_SEARCH_CHARS])
            found = self.folded[target] = (text, words(text))
        return found


def _school(m: InboundMessage) -> str | None:
    return m.requester.campus or m.campus


def _address(m: InboundMessage) -> str:
    return fold(m.sender.strip())


def _field_text(m: InboundMessage, target: str) -> str:
    if target == "subject":
        return m.subject
    if target == "text":
        return m.text
    return f"{m.subject}\n{m.text}"


_VALUES: dict[str, Callable[[InboundMessage], str | None]] = {
    "channel": lambda m: m.channel,
    "account": lambda m: m.account,
    "sender": _address,
    "role": lambda m: m.requester.role,
    "school": _school,
    "language": lambda m: m.language,
    "category": lambda m: m.category,
}


@dataclass(frozen=True)
class OneOf:
    field: str
    values: frozenset[str]

    def check(self, facts: Facts) -> str | None:
        got = _VALUES[self.field](facts.message)
        if got is None:
            return None
        value = fold(str(got))
        if self.field == "language":
            value = value.split("-")[0]  # es-MX is Spanish
        if value in self.values:
            return f"{self.field} is {value!r}" if self.field != "sender" else "sender is on the list"
        return None


@dataclass(frozen=True)
class SenderDomain:
    field: str
    domains: frozenset[str]

    def check(self, facts: Facts) -> str | None:
        m = facts.message
        for address in (m.sender, m.requester.email or ""):
            domain = fold(address.rpartition("@")[2]) if "@" in address else ""
            while domain:
                if domain in self.domains:
                    return f"sender domain is {domain!r}"
                domain = domain.partition(".")[2]
        return None


@dataclass(frozen=True)
class Pattern:
    field: str
    target: str  # subject, text, sender or any (subject and text)
    pattern: regex.Pattern[str]
    rule_id: str

    def check(self, facts: Facts) -> str | None:
        if self.target == "sender":
            found = search(self.pattern, facts.message.sender, self.rule_id)
            return "sender matches the pattern" if found is not None else None
        found = search(self.pattern, _field_text(facts.message, self.target), self.rule_id)
        return None if found is None else f"{self.field} /{self.pattern.pattern}/ found {found[:40]!r}"


@dataclass(frozen=True)
class Keywords:
    field: str
    target: str
    matcher: KeywordMatcher

    def check(self, facts: Facts) -> str | None:
        found = self.matcher.find_folded(*facts.folded_text(self.target))
        where = "subject or text" if self.target == "any" else self.target
        return None if found is None else f"keyword {found!r} in {where}"


@dataclass(frozen=True)
class HasAttachments:
    field: str
    expected: bool

    def check(self, facts: Facts) -> str | None:
        has = bool(facts.message.attachments)
        if has != self.expected:
            return None
        return f"{len(facts.message.attachments)} attachment(s)" if has else "no attachments"


@dataclass(frozen=True)
class Hours:
    field: str
    calendar: Calendar
    department: str | None
    inside: bool

    def check(self, facts: Facts) -> str | None:
        if self.calendar.is_open(facts.now, self.department, facts.closures) != self.inside:
            return None
        local = facts.now.astimezone(self.calendar.zone).strftime("%a %H:%M")
        whose = f"{self.calendar.name}" + (f"/{self.department}" if self.department else "")
        return f"{local} is {'inside' if self.inside else 'outside'} the hours of {whose}"


@dataclass(frozen=True)
class DuringClosure:
    field: str
    zone: ZoneInfo
    expected: bool

    def check(self, facts: Facts) -> str | None:
        day = facts.now.astimezone(self.zone).date()
        closed = day in facts.closures
        if closed != self.expected:
            return None
        return f"{day.isoformat()} is {'a closure day' if closed else 'not a closure day'}"


Condition = OneOf | SenderDomain | Pattern | Keywords | HasAttachments | Hours | DuringClosure
