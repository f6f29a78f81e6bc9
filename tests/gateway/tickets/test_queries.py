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

from gateway.tickets import NewComment, TicketQuery, TicketStore, schema
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


def _plans(store: TicketStore, work: Callable[[], object]) -> list[str]:
    """SQLite's plan for each filtered SELECT on tickets that `work` ran, as the store ran it (with its values)."""
    ran: list[tuple[str, object]] = []

    def record(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.startswith("SELECT") and "FROM tickets" in statement and "WHERE" in statement:
            ran.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        return [" | ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p)) for s, p in ran]


@pytest.mark.parametrize(("sort", "index"), [("priority", "ix_tickets_priority"), ("updated", "ix_tickets_updated_at")])
def test_a_list_of_nearly_every_ticket_reads_its_page_off_the_sorts_own_index(
    tmp_path: Path, sort: str, index: str
) -> None:
    # At a million tickets a list of the done ones (or of any status) sorted all 950,000 it found to show 50 of them:
    # seconds. SQLite keeps no statistics, so it took the status index; the store now says when the sort's own
    # index reads fewer rows, and SQLite reads the page off it.
    store = TicketStore.open(sqlite_url(tmp_path / "tickets.sqlite3"))
    made = [store.create_ticket(ticket(n, priority=("low", "high", "normal")[n % 3]), f"k{n}") for n in range(30)]
    for tid in made:
        store.set_status(tid, "resolved", None, "maria")
    query = TicketQuery(status=("done",))
    pages: list[object] = []
    plans = _plans(store, lambda: pages.append(store.page(query, sort=sort, page=2, per_page=3)))  # type: ignore[arg-type]
    assert index in plans[-1] and "TEMP B-TREE" not in plans[-1], plans
    every = store.page(query, sort=sort, per_page=30).items  # type: ignore[arg-type]
    assert [t.id for t in pages[0].items] == [t.id for t in every[3:6]]  # type: ignore[attr-defined]
    store.close()


def test_a_familys_requests_are_found_by_their_address_not_by_reading_their_department(tmp_path: Path) -> None:
    # The ticket page lists the family's other requests within the agent's departments. SQLite read the whole
    # department (400,000 rows at a million tickets), or every ticket: the address was compared in lower case,
    # which the plain index on it could not serve.
    store = TicketStore.open(sqlite_url(tmp_path / "tickets.sqlite3"))
    for n in range(6):
        store.create_ticket(ticket(n, requester_email=f"family{n % 3}@example.org", requester_phone=None), f"k{n}")
    for contacts in (("Family1@Example.org", "+15550100009"), ("Family1@Example.org",)):  # a family without a phone
        query = TicketQuery(requester=contacts, queue=("transportation",))
        found: list[object] = []
        plans = _plans(store, lambda q=query, f=found: f.append(store.page(q, sort="newest")))  # type: ignore[misc]
        assert all("ix_tickets_requester_email_lower" in p and "ix_tickets_queue" not in p for p in plans), plans
        assert [t.id for t in found[0].items] == [5, 2]  # type: ignore[attr-defined]
    store.close()


def test_a_familys_requests_are_found_whatever_the_case_of_their_address(
    store: TicketStore, make: Callable[..., int]
) -> None:
    mine = [make(requester_email="Ana.Perez@Example.org"), make(requester_email="ana.perez@example.org")]
    make(requester_email="someone@example.org", requester_phone="+15550100002")
    by_phone = make(requester_email=None, requester_phone="+15550100001")
    found = store.page(TicketQuery(requester=("ANA.PEREZ@example.org", "+15550100001"), queue=("transportation",)))
    assert sorted(t.id for t in found.items) == sorted([*mine, by_phone]) and found.total == 3


def test_a_search_within_a_departments_open_tickets_reads_them_once_not_once_per_match(tmp_path: Path) -> None:
    # At a million tickets an agent's search for a word in 9% of them took 768 ms: SQLite looked every matching id up
    # in each open status's range of the department. As two lists, it reads the department's open tickets once.
    store = TicketStore.open(sqlite_url(tmp_path / "tickets.sqlite3"))
    for n in range(4):
        store.create_ticket(ticket(n, queue="it", body=f"The projector in room {n} is broken."), f"k{n}")
    store.add_comment(2, NewComment(body="The projector works again", author="ana"), "c1")
    store.set_status(1, "resolved", None, "maria")
    query = TicketQuery(status=("open",), queue=("it",), text="projector")
    found: list[object] = []
    plans = _plans(store, lambda: found.append(store.page(query)))
    assert plans and all("AND id=?" not in p for p in plans), plans  # no seek per matching id
    assert sorted(t.id for t in found[0].items) == [2, 3, 4]  # type: ignore[attr-defined]
    assert store.page(TicketQuery(text="projector")).total == 4  # alone: every ticket it finds, in any status
    store.close()
