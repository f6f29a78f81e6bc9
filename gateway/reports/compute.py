"""The reports, computed from the store: every time a person waited is counted in business time, with the same
calendar, department hours, holidays and closures as the SLA's due times (gateway/calendars/business_time.py).

Definitions (the README repeats them): a report covers the tickets made in its range; merged tickets are left out
of the response times (their clocks stopped when they were merged). The first response is the first public answer
or change of status by staff; the resolution is when the ticket was last resolved or closed. A median is the middle
value (the mean of the two middle ones for an even count); a 90th percentile is the nearest rank (the smallest
value that at least 90% are at or below). Times are business minutes to one decimal.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

from gateway.calendars.business_time import BusinessClock
from gateway.calendars.calendar import Calendar, WeeklyHours
from gateway.reports.ranges import Range
from gateway.routing.model import RuleSet
from gateway.tickets import TicketStore
from gateway.tickets.stats import Clocks

Name = Literal["volume", "response", "time-spent", "equity"]
REPORTS: tuple[Name, ...] = ("volume", "response", "time-spent", "equity")
BY: dict[Name, tuple[str, ...]] = {
    "volume": ("channel", "queue", "category", "school", "language", "priority"),
    "response": ("all", "queue", "channel", "school", "language", "category", "priority"),
    "time-spent": ("work_type", "person", "queue"),
    "equity": ("language", "channel", "school"),
}
# What a person may type for a field.
ALIASES = {"department": "queue", "work-type": "work_type", "type": "work_type"}
NONE = "(none)"
STAT_COLUMNS = ("tickets", "answered", "first_response_median", "first_response_p90", "resolved",
                "resolution_median", "resolution_p90")  # fmt: skip
ALWAYS_OPEN: WeeklyHours = (((time(0), time.max),),) * 7


@dataclass
class Chart:
    kind: Literal["lines", "bars"]
    title: str  # a string key
    labels: list[str]
    series: list[tuple[str, list[float | None]]]
    unit: str  # a string key: requests, minutes, hours


@dataclass
class Report:
    name: Name
    range: Range
    by: str
    columns: list[str]  # column keys; the first names what a row is
    rows: list[list[str | int | float | None]]
    charts: list[Chart] = field(default_factory=list)


def field_for(name: Name, by: str | None) -> str:
    chosen = ALIASES.get(by or "", by or "") or BY[name][0]
    if chosen not in BY[name]:
        raise ValueError(f"{name} is reported by {', '.join(BY[name])}, not {by!r}")
    return chosen


def sla_calendar(rules: RuleSet) -> Calendar:
    """The calendar the default SLA policy counts in (else the rules' first calendar; with none, every hour)."""
    policy = rules.sla_policies.get(rules.default_sla or "")
    if policy is not None and policy.calendar in rules.calendars:
        return rules.calendars[policy.calendar]
    if rules.calendars:
        return next(iter(rules.calendars.values()))
    return Calendar("always", rules.zone, ALWAYS_OPEN)


def business_clock(rules: RuleSet, closures: Set[date]) -> BusinessClock:
    return BusinessClock(sla_calendar(rules), closures)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(0.9 * len(ordered)) - 1], 1)


@dataclass
class Waits:
    """The business minutes each ticket of a group waited: for a first response, and for its resolution."""

    tickets: int = 0
    first: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)

    def add(self, c: Clocks, clock: BusinessClock) -> None:
        self.tickets += 1
        if c.first_response_at is not None:
            self.first.append(clock.minutes(c.created_at, c.first_response_at, c.queue))
        if c.resolved_at is not None:
            self.resolution.append(clock.minutes(c.created_at, c.resolved_at, c.queue))

    def row(self) -> list[str | int | float | None]:
        return [self.tickets, len(self.first), median(self.first), p90(self.first), len(self.resolution),
                median(self.resolution), p90(self.resolution)]  # fmt: skip


def _value(c: Clocks, by: str) -> str:
    if by == "all":
        return "all"
    value = getattr(c, by)
    return str(value) if value else NONE


def _waits(clocks: Iterable[Clocks], clock: BusinessClock, dimensions: tuple[str, ...]) -> dict[str, dict[str, Waits]]:
    out: dict[str, dict[str, Waits]] = {d: defaultdict(Waits) for d in dimensions}
    for c in clocks:
        for d in dimensions:
            out[d][_value(c, d)].add(c, clock)
    return out


def _wait_charts(label_prefix: str, groups: dict[str, Waits]) -> Chart:
    names = sorted(groups)
    return Chart(
        "bars", f"chart_response_{label_prefix}", names,
        [("first_response_median", [median(groups[n].first) for n in names]),
         ("resolution_median", [median(groups[n].resolution) for n in names])],
        "minutes",
    )  # fmt: skip


def response(store: TicketStore, rng: Range, by: str | None, clock: BusinessClock) -> Report:
    by = field_for("response", by)
    groups = _waits(store.clocks(rng.start, rng.until), clock, (by,))[by]
    names = sorted(groups)
    rows = [[n, *groups[n].row()] for n in names]
    charts = [_wait_charts(by, groups)] if names else []
    return Report("response", rng, by, [by, *STAT_COLUMNS], rows, charts)


def equity(store: TicketStore, rng: Range, by: str | None, clock: BusinessClock) -> Report:
    """Response and resolution times by the family's language, their channel and their school, side by side;
    `by` keeps one of them only."""
    dims = (field_for("equity", by),) if by else BY["equity"]
    waits = _waits(store.clocks(rng.start, rng.until), clock, dims)
    rows: list[list[str | int | float | None]] = []
    charts = []
    for d in dims:
        names = sorted(waits[d])
        rows += [[d, n, *waits[d][n].row()] for n in names]
        if names:
            charts.append(_wait_charts(d, waits[d]))
    return Report("equity", rng, by or "all", ["dimension", "value", *STAT_COLUMNS], rows, charts)


def volume(store: TicketStore, rng: Range, by: str | None) -> Report:
    """Requests made in each period of the range, by a field: one column per value, and the total."""
    by = field_for("volume", by)
    periods = rng.periods()
    starts = [p.start for p in periods]
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    for hour, value, n in store.hourly_counts(by, rng.start, rng.until):
        i = bisect.bisect_right(starts, hour) - 1
        if 0 <= i < len(periods):
            counts[value or NONE][i] += n
    names = sorted(counts, key=lambda v: (-sum(counts[v]), v))
    rows: list[list[str | int | float | None]] = [
        [p.label, *(counts[n][i] for n in names), sum(counts[n][i] for n in names)] for i, p in enumerate(periods)
    ]
    rows.append(["total", *(sum(counts[n]) for n in names), sum(sum(counts[n]) for n in names)])
    chart = Chart("lines", f"chart_volume_{by}", [p.label for p in periods],
                  [(n, [float(x) for x in counts[n]]) for n in names], "requests")  # fmt: skip
    return Report("volume", rng, by, ["period", *names, "total"], rows, [chart])


def time_spent(store: TicketStore, rng: Range, by: str | None) -> Report:
    """Minutes logged in the range by work type, person or department (the ticket's queue)."""
    by = field_for("time-spent", by)
    minutes: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    for e in store.time_spent(rng.start, rng.until):
        key = getattr(e, by) or NONE
        minutes[key] += e.minutes
        entries[key] += 1
    total = sum(minutes.values())
    names = sorted(minutes, key=lambda v: (-minutes[v], v))
    rows: list[list[str | int | float | None]] = [
        [n, minutes[n], round(minutes[n] / 60, 1), entries[n], round(100 * minutes[n] / total, 1)] for n in names
    ]
    if names:
        rows.append(["total", total, round(total / 60, 1), sum(entries.values()), 100.0])
    chart = Chart("bars", f"chart_time_{by}", names, [("hours", [round(minutes[n] / 60, 1) for n in names])], "hours")
    return Report("time-spent", rng, by, [by, "minutes", "hours", "entries", "share"], rows, [chart] if names else [])


def run(
    name: Name, store: TicketStore, rng: Range, by: str | None, rules: RuleSet, closures: Set[date]
) -> Report:  # fmt: skip
    if name == "volume":
        return volume(store, rng, by)
    if name == "time-spent":
        return time_spent(store, rng, by)
    clock = business_clock(rules, closures)
    return response(store, rng, by, clock) if name == "response" else equity(store, rng, by, clock)
