"""The desk's and the CLI's lists: filters, sorts, pages with a total, the export, the dashboard's counts."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.tickets import TicketQuery, TicketStore, schema
from gateway.tickets.engine import sqlite_url
from gateway.tickets.migrations.versions import r0004_open_assignee_queue as r0004
from tests.gateway.tickets.conftest import ticket


def test_the_hundred_and_first_ticket_is_on_the_second_page_and_the_total_counts_them_all(
    store: TicketStore, make: Callable[..., int]
) -> None:
    made = [make() for _ in range(101)]
    first = store.page(per_page=100)
    second = store.page(page=2, per_page=100)
    assert (first.total, first.pages, len(first.items)) == (101, 2, 100)
    assert [t.id for t in second.items] == [made[0]]  # newest first: the oldest is last
    assert store.page(page=3, per_page=100).items == []
    assert [t.id for t in store.page(sort="oldest", per_page=2).items] == made[:2]


def test_filters_combine_and_each_takes_any_of_its_values(store: TicketStore, make: Callable[..., int]) -> None:
    bus = make(channel="sms", school="lhs", language="es", queue="transportation", category="bus")
    wifi = make(channel="email", school="jes", language="en", queue="it", category="internet", assignee="ben")
    make(channel="slack", school="jes", language="vi", queue="hr", priority="low")

    def ids(**q: object) -> list[int]:
        return sorted(t.id for t in store.page(TicketQuery(**q)).items)  # type: ignore[arg-type]

    assert ids(channel=("sms", "email")) == [bus, wifi]
    assert ids(school=("jes",), queue=("it",)) == [wifi]
    assert ids(language=("es",)) == [bus]
    assert ids(category=("internet",)) == [wifi]
    assert ids(assignee=("ben",)) == [wifi]
    assert len(ids(unassigned=True)) == 2
    assert len(ids(assignee=("ben",), unassigned=True)) == 3
    assert len(ids(priority=("low",))) == 1
    assert ids(requester=("ANA.PEREZ@example.org",))[:1] == [bus]
    assert ids(requester=("+15550100001",)) == ids()


def test_open_and_done_name_the_statuses_a_person_means(store: TicketStore, make: Callable[..., int]) -> None:
    new, working, resolved, closed = make(), make(), make(), make()
    store.set_status(working, "in_progress", None, "maria")
    store.set_status(resolved, "resolved", None, "maria")
    store.set_status(closed, "closed", None, "maria")
    assert sorted(t.id for t in store.page(TicketQuery(status=("open",))).items) == [new, working]
    assert sorted(t.id for t in store.page(TicketQuery(status=("done",))).items) == [resolved, closed]
    assert store.counts(("status",)) == {("new",): 1, ("in_progress",): 1, ("resolved",): 1, ("closed",): 1}


def test_due_soon_and_overdue_look_at_the_clock_still_running(store: TicketStore, make: Callable[..., int]) -> None:
    now = datetime.now(UTC)
    late = make(first_response_due=now - timedelta(hours=1), resolution_due=now + timedelta(days=2))
    soon = make(first_response_due=now + timedelta(hours=1))
    make(first_response_due=now + timedelta(days=3))
    make()  # no clock at all
    answered = make(first_response_due=now - timedelta(hours=2), resolution_due=now + timedelta(hours=2))
    store.set_status(answered, "in_progress", None, "maria")  # its first response is given: resolution runs

    def ids(due: str) -> list[int]:
        return sorted(t.id for t in store.page(TicketQuery(due=due)).items)  # type: ignore[arg-type]

    assert ids("overdue") == [late]
    assert ids("soon") == [soon, answered]
    assert ids("soon_or_overdue") == [late, soon, answered]
    store.set_status(late, "resolved", None, "maria")
    assert ids("overdue") == []


def test_priority_sort_puts_the_most_urgent_first_then_the_soonest_due_then_tickets_without_a_clock(
    store: TicketStore, make: Callable[..., int]
) -> None:
    now = datetime.now(UTC)
    normal_no_clock = make(priority="normal")
    normal_later = make(priority="normal", first_response_due=now + timedelta(hours=5))
    normal_sooner = make(priority="normal", first_response_due=now + timedelta(hours=1))
    urgent = make(priority="urgent")
    low = make(priority="low", first_response_due=now)
    order = [t.id for t in store.page(sort="priority").items]
    assert order == [urgent, normal_sooner, normal_later, normal_no_clock, low]
    store.update_fields(low, "maria", priority="high")
    assert [t.id for t in store.page(sort="priority").items][:2] == [urgent, low]


def test_created_between_uses_the_times_given_in_any_zone(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make()
    made = store.get(tid).created_at
    inside = TicketQuery(created_from=made - timedelta(minutes=1), created_until=made + timedelta(minutes=1))
    before = TicketQuery(created_until=made - timedelta(minutes=1))
    assert [t.id for t in store.page(inside).items] == [tid]
    assert store.page(before).total == 0


def test_a_merged_ticket_is_closed_in_lists_and_can_be_left_out(store: TicketStore, make: Callable[..., int]) -> None:
    one, two = make(), make()
    store.merge(two, one, "maria")
    assert [t.id for t in store.page(TicketQuery(hide_merged=True)).items] == [one]
    assert [(t.id, t.status) for t in store.page().items] == [(two, "closed"), (one, "new")]
    assert [t.id for t in store.page(TicketQuery(status=("open",))).items] == [one]
    assert store.count() == 2


def test_the_export_streams_every_ticket_without_a_cap(store: TicketStore) -> None:
    for n in range(1, 1203):
        store.create_ticket(ticket(n, subject=f'Bus, "late" {n}'), idempotency_key=f"k{n}")
    exported = list(store.export(TicketQuery(channel=("sms",))))
    assert len(exported) == 1202 and exported[0].id > exported[-1].id
    text = "".join(store.export_csv(TicketQuery(), sort="oldest"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1202
    assert rows[0]["subject"] == 'Bus, "late" 1' and rows[0]["status"] == "new"
    assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo is not None


def test_counts_by_status_and_queue_match_the_lists_behind_them(store: TicketStore, make: Callable[..., int]) -> None:
    for queue in ("it", "it", "transportation"):
        make(queue=queue)
    store.set_status(1, "resolved", None, "maria")
    counts = store.counts(("status", "queue"))
    assert counts == {("new", "it"): 1, ("resolved", "it"): 1, ("new", "transportation"): 1}
    assert store.page(TicketQuery(status=("new",), queue=("it",))).total == counts[("new", "it")]
    assert store.counts(("queue",), TicketQuery(status=("open",))) == {("it",): 1, ("transportation",): 1}
    with pytest.raises(ValueError, match="cannot count by"):
        store.counts(("body",))


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
def test_the_dashboards_unassigned_count_reads_only_its_own_index(tmp_path: Path, analyzed: bool) -> None:
    # At a million tickets, counting the open unassigned ones through (assignee, status) read 15,000 table rows
    # (60-80 ms of every dashboard refresh); the partial index (assignee, department) of r0004 answers it alone.
    url = sqlite_url(tmp_path / "tickets.sqlite3")
    if analyzed:  # a store someone ran ANALYZE on before the upgrade: every other index has statistics
        TicketStore.open(url).close()
        with sqlite3.connect(tmp_path / "tickets.sqlite3") as db:
            db.execute("DROP INDEX ix_tickets_open_assignee_queue")
            db.execute("ANALYZE")
            db.execute(r0004.CREATE)
    store = TicketStore.open(url)
    for n in range(3):
        store.create_ticket(ticket(n, queue="it"), idempotency_key=f"req-{n}")
    query = TicketQuery(status=("open",), unassigned=True)
    c = schema.tickets.c
    stmt = sa.select(c.queue, sa.func.count()).where(*query.where("sqlite", datetime.now(UTC))).group_by(c.queue)
    with store.engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    assert "ix_tickets_open_assignee_queue" in plan, plan
    assert store.counts(("queue",), query) == {("it",): 3}
    store.close()
