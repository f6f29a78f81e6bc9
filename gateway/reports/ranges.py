"""A report's range: a day, a week (Monday to Sunday), a school term (settings `reports.terms`), a school year
(from `reports.year_start`), or any span of days; each in the district's time zone, cut into the periods its graph
shows (hours of a day, days of a week or a short span, weeks of a term, months of a year)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.settings import Settings

Kind = Literal["day", "week", "term", "year", "custom"]
KINDS: tuple[Kind, ...] = ("day", "week", "term", "year", "custom")
# A span of up to this many days is graphed by day; longer, by week.
DAILY_UP_TO = 62


class RangeError(ValueError):
    """A range that cannot be made: the message says what would work."""


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime  # UTC
    until: datetime  # UTC, exclusive


@dataclass(frozen=True)
class Range:
    kind: Kind
    label: str
    first: date  # the first local day
    last: date  # the last local day (inclusive)
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return _midnight(self.first, self.zone)

    @property
    def until(self) -> datetime:
        return _midnight(self.last + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def periods(self) -> list[Period]:
        """The graph's periods: hours for one day, days up to two months, weeks up to a term, months past it."""
        if self.days == 1:
            return [
                Period(f"{h:02d}:00", _at(self.first, time(h), self.zone), _at(self.first, time(h), self.zone, 1))
                for h in range(24)
            ]  # fmt: skip
        if self.kind == "year" or self.days > 200:
            return self._months()
        step = 1 if self.days <= DAILY_UP_TO else 7
        out = []
        day = self.first
        while day <= self.last:
            end = min(day + timedelta(days=step), self.last + timedelta(days=1))
            out.append(Period(day.isoformat(), _midnight(day, self.zone), _midnight(end, self.zone)))
            day = end
        return out

    def _months(self) -> list[Period]:
        out = []
        day = self.first
        while day <= self.last:
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            end = min(nxt, self.last + timedelta(days=1))
            out.append(Period(day.strftime("%Y-%m"), _midnight(day, self.zone), _midnight(end, self.zone)))
            day = end
        return out


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _at(day: date, at: time, zone: ZoneInfo, hours_later: int = 0) -> datetime:
    # Wall-clock hours, so a day of a clock change has 23 or 25 of them: each is read as the local clock shows it.
    return (datetime.combine(day, at, zone) + timedelta(hours=hours_later)).astimezone(UTC)


def today(settings: Settings, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(settings.zone).date()


def school_year_start(settings: Settings, on: date) -> date:
    month, day = (int(x) for x in settings.reports.year_start.split("-"))
    start = date(on.year, month, day)
    return start if start <= on else date(on.year - 1, month, day)


def resolve(
    settings: Settings, kind: str, on: date | None = None, *, term: str | None = None,
    first: date | None = None, last: date | None = None,
) -> Range:  # fmt: skip
    """The range of `kind` around the day `on` (today by default); `term` names a term; `custom` takes
    `first` and `last`."""
    zone = settings.zone
    on = on or today(settings)
    if kind == "day":
        return Range("day", on.isoformat(), on, on, zone)
    if kind == "week":
        monday = on - timedelta(days=on.weekday())
        return Range("week", f"{monday.isoformat()} to {(monday + timedelta(days=6)).isoformat()}", monday,
                     monday + timedelta(days=6), zone)  # fmt: skip
    if kind == "term":
        terms = settings.reports.terms
        if not terms:
            raise RangeError("no school terms are configured: add them under reports.terms in the settings")
        chosen = (
            next((x for x in terms if x.name.lower() == term.lower()), None)
            if term
            else next((x for x in terms if x.start <= on <= x.end), None)
        )
        if chosen is None:
            names = ", ".join(x.name for x in terms)
            what = f"no term named {term!r}" if term else f"{on.isoformat()} is in no term"
            raise RangeError(f"{what}; the terms are: {names}")
        return Range("term", chosen.name, chosen.start, chosen.end, zone)
    if kind == "year":
        start = school_year_start(settings, on)
        end = date(start.year + 1, start.month, start.day) - timedelta(days=1)
        return Range("year", f"{start.year}-{str(start.year + 1)[2:]}", start, end, zone)
    if kind == "custom":
        if first is None or last is None:
            raise RangeError("a range of days needs its first and last day")
        if last < first:
            raise RangeError(f"the range ends ({last.isoformat()}) before it starts ({first.isoformat()})")
        if (last - first).days > 3 * 366:
            raise RangeError("a range covers at most three years")
        return Range("custom", f"{first.isoformat()} to {last.isoformat()}", first, last, zone)
    raise RangeError(f"unknown range {kind!r}: expected one of {', '.join(KINDS)}")
