"""The dashboard keeps each ticket's business minutes between two reads: the same numbers as the reports, worked
out again only for a ticket whose clocks changed, or for every ticket when the closures (or the rules) do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from gateway.dashboard.waits import WaitsMemo
from gateway.reports.compute import Waits, business_clock
from gateway.routing.model import RuleSet
from gateway.settings import Settings
from gateway.tickets import TicketStore
from tests.gateway.reports.test_reports import backdate, the_week

MADE = [("transportation", "2027-02-01 16:00", "2027-02-01 17:00", "2027-02-02 07:00"),
        ("it", "2027-02-05 16:00", "2027-02-08 08:00", "2027-02-08 12:00"),
        ("general", "2027-02-03 10:00", "2027-02-03 10:45", None),
        ("transportation", "2027-02-04 08:00", None, None)]  # fmt: skip


def as_reports_count(store: TicketStore, settings: Settings, rules: RuleSet, closed: set[date]) -> Waits:
    rng, waits, clock = the_week(settings), Waits(), business_clock(rules, closed)
    for c in store.clocks(rng.start, rng.until):
        waits.add(c, clock)
    return waits


def same(a: Waits, b: Waits) -> bool:
    return (a.tickets, sorted(a.first), sorted(a.resolution)) == (b.tickets, sorted(b.first), sorted(b.resolution))


def test_the_dashboards_response_times_are_the_reports_and_only_a_changed_ticket_is_worked_out_again(
    store: TicketStore, make: Callable[..., int], settings: Settings, rules: RuleSet
) -> None:
    ids = [make(queue=q) for q, *_ in MADE]
    for tid, (_, made, first, resolved) in zip(ids, MADE, strict=True):
        backdate(store, tid, made, first, resolved)
    rng, memo = the_week(settings), WaitsMemo()

    def read(closed: set[date]) -> Waits:
        return memo.waits(store.raw_clocks(rng.start, rng.until), rules, closed, business_clock(rules, closed))

    first = read(set())
    assert same(first, as_reports_count(store, settings, rules, set()))
    assert sorted(first.first) == [45.0, 60.0, 90.0] and sorted(first.resolution) == [150.0, 330.0]
    assert memo.computed == 4
    assert same(read(set()), first) and memo.computed == 4  # nothing changed: nothing worked out again

    backdate(store, ids[3], "2027-02-04 08:00", "2027-02-04 09:15")  # the last ticket is answered
    answered = read(set())
    assert same(answered, as_reports_count(store, settings, rules, set())) and 75.0 in answered.first
    assert memo.computed == 5

    snow_day = {date(2027, 2, 8)}  # a closure: every ticket's minutes again
    closed = read(snow_day)
    assert same(closed, as_reports_count(store, settings, rules, snow_day))
    assert closed.first != answered.first and memo.computed == 9
