"""Named calendars: weekly hours per department, holidays and breaks, and business-time arithmetic.

A calendar answers three questions for a department at an instant: is it open, when does it next
open, and when is N business minutes from now. Closed days are the calendar's holidays (from its
.ics files and its own list) plus the district-wide ad-hoc closures (`intake calendar close`),
which are passed in as a set of local dates so this module never does I/O and time is always given.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[time, time]
WeeklyHours = tuple[tuple[Interval, ...], ...]  # indexed by weekday, Monday = 0
CLOSED_WEEK: WeeklyHours = ((),) * 7
# No calendar is closed for more than a year; past that a search gives up instead of looping.
HORIZON_DAYS = 400


def _clock(text: str) -> time:
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or not (0 <= int(hh) <= 24 and 0 <= int(mm) < 60):
        raise ValueError(f"{text.strip()!r} is not a time of day like 07:30")
    if int(hh) == 24:
        if int(mm):
            raise ValueError(f"{text.strip()!r} is past the end of the day")
        return time.max
    return time(int(hh), int(mm))


def _days(key: str) -> list[int]:
    first, _, last = key.strip().lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ValueError(f"{key!r} is not a day or a range of days like mon-fri")
    a, b = DAYS.index(first), DAYS.index(last or first)
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def parse_hours(spec: Mapping[str, object]) -> WeeklyHours:
    """{"mon-fri": "07:30-16:30", "sat": "08:00-12:00, 13:00-15:00", "sun": "closed"} -> WeeklyHours."""
    week: list[tuple[Interval, ...]] = [() for _ in DAYS]
    for key, value in spec.items():
        if not isinstance(value, str):
            raise ValueError(f'{key}: expected text like "07:30-16:30" or "closed"')
        intervals: list[Interval] = []
        if value.strip().lower() != "closed":
            for part in value.split(","):
                start, sep, end = part.partition("-")
                if not sep:
                    raise ValueError(f"{key}: {part.strip()!r} is not a range like 07:30-16:30")
                a, b = _clock(start), _clock(end)
                if b <= a:
                    raise ValueError(f"{key}: {part.strip()!r} ends before it starts")
                intervals.append((a, b))
        for day in _days(str(key)):
            week[day] = tuple(sorted(intervals))
    return tuple(week)


@dataclass(frozen=True)
class Calendar:
    name: str
    zone: ZoneInfo
    hours: WeeklyHours
    departments: Mapping[str, WeeklyHours] = field(default_factory=dict)
    holidays: Mapping[date, str] = field(default_factory=dict)
    # Parts of days that are closed (an early release from 13:00), by local date, as UTC instants.
    closed_spans: Mapping[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict)

    def week(self, department: str | None) -> WeeklyHours:
        return self.departments.get(department or "", self.hours)

    def closed_reason(self, day: date, closures: Mapping[date, str] | Set[date]) -> str | None:
        if day in closures:
            return closures[day] if isinstance(closures, Mapping) else "closed"
        return self.holidays.get(day)

    def _windows(self, day: date, department: str | None, closures: Set[date]) -> list[tuple[datetime, datetime]]:
        if day in closures or day in self.holidays:
            return []
        out = []
        for start, end in self.week(department)[day.weekday()]:
            a = datetime.combine(day, start, self.zone).astimezone(UTC)
            b = (
                datetime.combine(day + timedelta(days=1), time(0), self.zone)
                if end == time.max
                else datetime.combine(day, end, self.zone)
            ).astimezone(UTC)
            out.append((a, b))
        return _without(out, self.closed_spans.get(day, ()))

    def open_windows(self, day: date, department: str | None, closures: Set[date]) -> list[tuple[datetime, datetime]]:
        """The department's open spans on a local day, as UTC instants (none on a holiday or a closure)."""
        return self._windows(day, department, closures)

    def is_open(self, at: datetime, department: str | None, closures: Set[date]) -> bool:
        """Whether the department (or the calendar, for one without hours of its own) is open at `at`."""
        day = at.astimezone(self.zone).date()
        return any(a <= at < b for a, b in self._windows(day, department, closures))

    def next_open(self, at: datetime, department: str | None, closures: Set[date]) -> datetime | None:
        """`at` itself when open, else the start of the next open window; None if closed for the horizon."""
        day = at.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS):
            for a, b in self._windows(day + timedelta(days=offset), department, closures):
                if at < b:
                    return max(a, at)
        return None

    def add_business_minutes(
        self, start: datetime, minutes: int, department: str | None, closures: Set[date]
    ) -> datetime | None:
        """The instant `minutes` of open time after `start`: the clock runs only while the department is open."""
        left = timedelta(minutes=minutes)
        day = start.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS):
            for a, b in self._windows(day + timedelta(days=offset), department, closures):
                if b <= start:
                    continue
                begin = max(a, start)
                if begin + left <= b:
                    return begin + left
                left -= b - begin
        return None


def _without(
    windows: list[tuple[datetime, datetime]], spans: tuple[tuple[datetime, datetime], ...]
) -> list[tuple[datetime, datetime]]:
    """The open windows with the closed spans cut out of them."""
    for s, e in spans:
        cut: list[tuple[datetime, datetime]] = []
        for a, b in windows:
            if e <= a or b <= s:
                cut.append((a, b))
                continue
            if a < s:
                cut.append((a, s))
            if e < b:
                cut.append((e, b))
        windows = cut
    return windows


def spans_by_day(
    spans: list[tuple[datetime, datetime]], zone: ZoneInfo
) -> dict[date, tuple[tuple[datetime, datetime], ...]]:
    """Closed spans split at local midnights, keyed by the local date each part falls on."""
    out: dict[date, list[tuple[datetime, datetime]]] = {}
    for start, end in spans:
        day = start.astimezone(zone).date()
        while True:
            midnight = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
            out.setdefault(day, []).append(
                (max(start, datetime.combine(day, time(0), zone).astimezone(UTC)), min(end, midnight))
            )
            if end <= midnight:
                break
            day += timedelta(days=1)
    return {d: tuple(sorted(v)) for d, v in out.items()}
