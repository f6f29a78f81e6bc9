"""The dashboard's first-response and resolution times, kept between two reads.

The dashboard reads the last `dashboard.response_days` days of tickets at every full refresh, about 10,000 tickets
a week in a large district. Working out each one's business minutes again every time took most of that read
(bench/desk_queries.py: the whole read's p99 was 494-632 ms at a million tickets). A ticket's minutes change only
when its row does (a first response, a resolution, a move to another department) or when the calendar does, so
this keeps them per row as the database returned it, and forgets every row that has left the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import date

from gateway.calendars.business_time import BusinessClock
from gateway.reports.compute import Waits
from gateway.routing.model import RuleSet
from gateway.tickets.schema import utc_time
from gateway.tickets.stats import RawClock

Minutes = tuple[float | None, float | None]  # (to the first response, to the resolution)


class WaitsMemo:
    """Business minutes per ticket row, valid for one rule set and one set of closures. One per web process: the
    dashboard's hub reads one picture at a time, so no two threads use it at once."""

    def __init__(self) -> None:
        self._rules: RuleSet | None = None
        self._closures: frozenset[date] = frozenset()
        self._minutes: dict[RawClock, Minutes] = {}
        self.computed = 0  # rows worked out since the start (a test's and a curious operator's window into it)

    def waits(self, rows: Iterable[RawClock], rules: RuleSet, closures: Set[date], clock: BusinessClock) -> Waits:
        if rules is not self._rules or closures != self._closures:
            self._rules, self._closures, self._minutes = rules, frozenset(closures), {}
        known, kept = self._minutes, {}
        waits = Waits()
        for row in rows:
            minutes = known.get(row)
            if minutes is None:
                minutes = _minutes(row, clock)
                self.computed += 1
            kept[row] = minutes
            waits.tickets += 1
            if minutes[0] is not None:
                waits.first.append(minutes[0])
            if minutes[1] is not None:
                waits.resolution.append(minutes[1])
        self._minutes = kept
        return waits


def _minutes(row: RawClock, clock: BusinessClock) -> Minutes:
    created, first, resolved = utc_time(row[0]), utc_time(row[1]), utc_time(row[2])
    assert created is not None
    return (
        None if first is None else clock.minutes(created, first, row[3]),
        None if resolved is None else clock.minutes(created, resolved, row[3]),
    )
