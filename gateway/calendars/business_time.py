"""How much business time lay between two instants: the same calendars, department hours, holidays and closures
that set the SLA's due times (calendar.py), read the other way round, for reports and the dashboard.

A request that arrives on Friday at 16:00 and is answered on Monday at 08:00 waited 30 business minutes when the
office is open 07:30-16:30, not 64 hours: reports that count the clock time make a desk look slow for every
weekend and holiday (LESSONS.md).
"""

from __future__ import annotations

from collections.abc import Set
from datetime import date, datetime, timedelta

from gateway.calendars.calendar import Calendar


class BusinessClock:
    """Business seconds between instants, for one calendar and one set of closures. Keeps each (department, day)'s
    open windows once, so a report over thousands of tickets reads each day's hours once."""

    def __init__(self, calendar: Calendar, closures: Set[date]) -> None:
        self.calendar = calendar
        self.closures = closures
        self._windows: dict[tuple[str | None, date], list[tuple[datetime, datetime]]] = {}
        self._totals: dict[tuple[str | None, date], float] = {}

    def _day(self, department: str | None, day: date) -> list[tuple[datetime, datetime]]:
        key = (department, day)
        found = self._windows.get(key)
        if found is None:
            found = self.calendar.open_windows(day, department, self.closures)
            self._windows[key] = found
            self._totals[key] = sum((b - a).total_seconds() for a, b in found)
        return found

    def seconds(self, start: datetime, end: datetime, department: str | None) -> float:
        """Open seconds in [start, end) for the department (its own hours, else the calendar's). 0 when end <= start."""
        if end <= start:
            return 0.0
        zone = self.calendar.zone
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        total = 0.0
        day = first
        while day <= last:
            windows = self._day(department, day)
            if first < day < last:
                total += self._totals[(department, day)]
            else:
                for a, b in windows:
                    lo, hi = max(a, start), min(b, end)
                    if hi > lo:
                        total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def minutes(self, start: datetime, end: datetime, department: str | None) -> float:
        return self.seconds(start, end, department) / 60
