"""Which requests belong to an incident: the match criteria, their validation, and matching itself.

Text is compared case- and accent-insensitively ("Wi-Fi caído" matches "wifi|caido"). An
operator's regex is checked at open for shapes that backtrack catastrophically (a quantified group
holding an unbounded quantifier, such as `(a+)+`), and every match also runs under a timeout, so a
pattern that slipped through can slow one request by at most that long, never stall a worker.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import regex
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from gateway.models import InboundMessage

log = logging.getLogger("intake.incidents")

MAX_PATTERN_LEN = 300
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class BadCriteria(ValueError):
    """Match criteria an operator must fix; the message says what and how."""


def fold(value: str) -> str:
    """Lower-case without accents: the form both the criteria and the request text are compared in."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _unbounded_at(pattern: str, i: int) -> tuple[bool, int]:
    """Whether a quantifier at pattern[i] is unbounded (+, *, {n,}); and the index after it."""
    if i >= len(pattern):
        return False, i
    ch = pattern[i]
    if ch in "+*":
        return True, i + 1
    if ch == "?":
        return False, i + 1
    if ch == "{":
        close = pattern.find("}", i)
        if close != -1 and re.fullmatch(r"\d*(,\d*)?", pattern[i + 1 : close]):
            body = pattern[i + 1 : close]
            return ("," in body and body.split(",", 1)[1] == ""), close + 1
    return False, i


def nested_quantifier(pattern: str) -> bool:
    """True when a repeated group contains an unbounded repetition: the shape that backtracks exponentially."""
    stack: list[bool] = []  # per open group: does it hold an unbounded quantifier?
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            unbounded, _ = _unbounded_at(pattern, i)
            if unbounded and stack:
                stack[-1] = True
            continue
        if ch == "[":
            close = i + 1
            if close < len(pattern) and pattern[close] == "^":
                close += 1
            if close < len(pattern) and pattern[close] == "]":
                close += 1
            while close < len(pattern) and pattern[close] != "]":
                close += 2 if pattern[close] == "\\" else 1
            i = close + 1
            unbounded, _ = _unbounded_at(pattern, i)
            if unbounded and stack:
                stack[-1] = True
            continue
        if ch == "(":
            stack.append(False)
            i += 1
            continue
        if ch == ")":
            inner = stack.pop() if stack else False
            i += 1
            unbounded, after = _unbounded_at(pattern, i)
            repeated = after > i and pattern[i] != "?"
            if inner and repeated:
                return True
            if stack and (inner or unbounded):
                stack[-1] = True
            continue
        i += 1
        unbounded, _ = _unbounded_at(pattern, i)
        if unbounded and stack:
            stack[-1] = True
    return False


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """Compile an operator's pattern (in folded form), refusing what would be slow or invalid."""
    if len(pattern) > MAX_PATTERN_LEN:
        raise BadCriteria(f"--match is {len(pattern)} characters; keep it under {MAX_PATTERN_LEN}")
    if nested_quantifier(pattern):
        raise BadCriteria(
            "--match repeats a group that itself repeats (like (a+)+): that can take forever on some texts; "
            "write the words as alternatives instead, e.g. 'wifi|internet'"
        )
    try:
        return regex.compile(fold(pattern))
    except regex.error as exc:
        raise BadCriteria(f"--match is not a valid regular expression: {exc}") from None


class MatchCriteria(BaseModel):
    """What an incident is about (pattern, keywords or categories: any of them) and where and when it applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str | None = None
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schools: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    until: datetime | None = None

    @field_validator("pattern")
    @classmethod
    def _safe_pattern(cls, v: str | None) -> str | None:
        if v is not None:
            compile_pattern(v)
        return v

    @field_validator("keywords", "schools", "categories", "channels")
    @classmethod
    def _folded(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(fold(x.strip()) for x in v if x.strip()))

    @model_validator(mode="after")
    def _says_what(self) -> MatchCriteria:
        if not (self.pattern or self.keywords or self.categories):
            raise BadCriteria("an incident needs --match, --keyword or --category, or it would take every request")
        return self


def build_criteria(**fields: object) -> MatchCriteria:
    """MatchCriteria from an operator's options; raises BadCriteria with the first problem, in words."""
    try:
        return MatchCriteria.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadCriteria(str(first["msg"]).removeprefix("Value error, ")) from None


class Matcher:
    """MatchCriteria compiled once, checked against many requests."""

    def __init__(self, criteria: MatchCriteria, timeout_s: float) -> None:
        self.criteria = criteria
        self.timeout_s = timeout_s
        self.pattern = compile_pattern(criteria.pattern) if criteria.pattern else None
        self.keywords = [regex.compile(r"\b" + regex.escape(k) + r"\b") for k in criteria.keywords]

    def matches(self, m: InboundMessage) -> bool:
        c = self.criteria
        if c.until is not None and m.received_at > c.until:
            return False
        if c.channels and m.channel not in c.channels:
            return False
        school = m.campus or m.requester.campus
        if c.schools and (school is None or fold(school) not in c.schools):
            return False
        if m.category and fold(m.category) in c.categories:
            return True
        body = fold(f"{m.subject}\n{m.text}")
        try:
            if self.pattern is not None and self.pattern.search(body, timeout=self.timeout_s):
                return True
            return any(k.search(body, timeout=self.timeout_s) for k in self.keywords)
        except TimeoutError:
            log.warning("incident pattern timed out on a request: treated as no match", extra={"request_id": m.id})
            return False


def parse_until(value: str, now: datetime, zone: ZoneInfo) -> datetime:
    """`HH:MM` (today, in the district's time zone) or an ISO date-time; it must lie ahead of `now`."""
    hhmm = _HHMM.match(value.strip())
    if hhmm:
        today: date = now.astimezone(zone).date()
        at = datetime.combine(today, time(int(hhmm.group(1)), int(hhmm.group(2))), zone)
    else:
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadCriteria(f"--until {value!r}: expected HH:MM (today) or an ISO date-time") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone)
    if at <= now:
        local = at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise BadCriteria(f"--until {value!r} ({local} {zone.key}) has already passed; give a later time")
    return at
