"""The worker's writes: each idempotent on its key, each keeping the response clocks right. Both engines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.tickets import NewComment, TicketStore, UnknownTicket
from tests.gateway.tickets.conftest import PHOTO, at, ticket


def test_the_same_key_makes_one_ticket_with_its_first_status_and_files(store: TicketStore) -> None:
    first = store.create_ticket(ticket(attachments=(PHOTO,)), idempotency_key="req-1")
    again = store.create_ticket(ticket(attachments=(PHOTO,)), idempotency_key="req-1")
    assert first == again and store.count() == 1
    details = store.details(first)
    assert [h.status for h in details.history] == ["new"]
    assert [(a.filename, a.storage_key, a.comment_id) for a in details.attachments] == [("stop.png", "k1", None)]
    made = details.ticket
    assert (made.status, made.priority, made.requester_name) == ("new", "normal", "Ana Pérez")
    assert made.created_at.tzinfo == UTC


def test_two_workers_racing_on_one_key_make_one_ticket(store_url: str) -> None:
    stores = [TicketStore.open(store_url) for _ in range(4)]
    refs: list[int] = []
    barrier = threading.Barrier(len(stores))

    def deliver(s: TicketStore) -> None:
        barrier.wait()
        refs.append(s.create_ticket(ticket(), idempotency_key="raced"))

    threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(refs) == 4 and len(set(refs)) == 1
    assert stores[0].count() == 1
    for s in stores:
        s.close()


def test_a_follow_up_is_added_once_per_key_with_its_files(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make()
    follow_up = NewComment(body="Still no bus.", author="Ana Pérez", channel="sms", attachments=(PHOTO,))
    one = store.add_comment(tid, follow_up, idempotency_key="req-2")
    assert store.add_comment(tid, follow_up, idempotency_key="req-2") == one
    details = store.details(tid)
    assert [(c.body, c.author_kind, c.channel, c.public) for c in details.comments] == [
        ("Still no bus.", "requester", "sms", True)
    ]
    assert [a.comment_id for a in details.attachments] == [one]
    assert details.ticket.first_response_at is None  # the family writing again is no response


def test_a_comment_on_a_ticket_that_does_not_exist_is_refused(store: TicketStore) -> None:
    with pytest.raises(UnknownTicket):
        store.add_comment(99, NewComment(body="x", author="a"), idempotency_key="k")
    with pytest.raises(UnknownTicket):
        store.get("#99")
    with pytest.raises(UnknownTicket):
        store.details("not-a-number")


def test_the_running_clock_is_first_response_then_resolution_then_none(
    store: TicketStore, make: Callable[..., int]
) -> None:
    tid = make(first_response_due=at(2, 10), resolution_due=at(3, 16))
    assert store.get(tid).next_due == at(2, 10)
    store.set_status(tid, "in_progress", None, "maria")
    moved = store.get(tid)
    assert moved.first_response_at is not None and moved.next_due == at(3, 16)
    store.set_status(tid, "resolved", "Fixed.", "maria")
    done = store.get(tid)
    assert done.next_due is None and done.resolved_at is not None
    store.set_status(tid, "open", None, "maria")  # reopened: the resolution clock runs again
    assert (store.get(tid).next_due, store.get(tid).resolved_at) == (at(3, 16), None)


def test_a_retried_status_change_is_written_once(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make()
    first = store.set_status(tid, "resolved", "Fixed.", "incident", idempotency_key="inc-1-update-2")
    again = store.set_status(tid, "resolved", "Fixed.", "incident", idempotency_key="inc-1-update-2")
    assert (again.id, again.at) == (first.id, first.at)
    details = store.details(tid)
    assert [(h.status, h.previous_status) for h in details.history] == [("new", None), ("resolved", "new")]
    assert [(c.body, c.author_kind) for c in details.comments] == [("Fixed.", "staff")]


def test_a_closure_moves_the_due_time_of_the_running_clock(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make(first_response_due=at(2, 10), resolution_due=at(3, 16))
    store.set_due(tid, "first_response", at(3, 10))
    assert (store.get(tid).first_response_due, store.get(tid).next_due) == (at(3, 10), at(3, 10))
    store.set_due(tid, "resolution", at(4, 16))
    assert store.get(tid).next_due == at(3, 10)  # the first-response clock is still the one running


def test_times_come_back_aware_and_in_utc_whatever_zone_they_were_given_in(
    store: TicketStore, make: Callable[..., int]
) -> None:
    chicago = datetime(2027, 2, 2, 4, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago"))
    tid = make(first_response_due=chicago)
    assert store.get(tid).first_response_due == datetime(2027, 2, 2, 4, 0, tzinfo=UTC)
    with pytest.raises(Exception, match="aware"):
        make(first_response_due=datetime(2027, 2, 2, 4, 0))


def test_children_are_linked_to_their_parent(store: TicketStore, make: Callable[..., int]) -> None:
    parent, child = make(), make()
    store.link_child(parent, child)
    assert store.get(child).parent_id == parent
    with pytest.raises(UnknownTicket):
        store.link_child(parent, 999)


def test_forgetting_a_family_removes_their_tickets_and_returns_the_files_nobody_else_uses(
    store: TicketStore, make: Callable[..., int]
) -> None:
    hers = make(requester_email="Ana.Perez@Example.org", attachments=(PHOTO,))
    store.add_comment(hers, NewComment(body="Elm St again", author="Ana"), idempotency_key="c1")
    store.log_time(hers, "maria", 15, "break_fix")
    make(requester_email="luis@example.org", requester_phone="+15550100002", attachments=(PHOTO,))
    other = make(requester_email="luis@example.org", requester_phone="+15550100002")
    store.link_child(hers, other)
    removed = store.forget(["ana.perez@example.org"], [], [])
    assert (removed.tickets, removed.blob_keys) == (1, ())  # k1 is still on Luis's ticket
    assert store.count() == 2 and store.get(other).parent_id is None
    removed = store.forget([], ["+15550100002"], [])
    assert (removed.tickets, removed.blob_keys) == (2, ("k1",))
    assert store.count() == 0
    assert store.forget([], [], []).tickets == 0
    assert [e.action for e in store.audit_log()][:2] == ["forget", "forget"]


def test_a_ticket_made_later_sorts_later(store: TicketStore, make: Callable[..., int]) -> None:
    one, two = make(), make()
    assert two > one
    assert store.get(two).created_at >= store.get(one).created_at - timedelta(seconds=1)
