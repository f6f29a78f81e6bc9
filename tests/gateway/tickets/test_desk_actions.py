"""What staff do at the desk: each change made once, with its audit entry, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.tickets import MergeRefused, NewAttachment, NewComment, TicketQuery, TicketStore


def test_a_public_reply_is_the_first_response_and_a_note_is_not(store: TicketStore, make: Callable[..., int]) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    tid = make(first_response_due=due, resolution_due=due + timedelta(hours=8))
    note = store.reply(tid, "Called the depot.", "maria", public=False)
    assert store.get(tid).first_response_at is None
    reply = store.reply(tid, "The driver has been told.", "maria")
    ticket = store.get(tid)
    assert ticket.first_response_at is not None and ticket.next_due == due + timedelta(hours=8)
    comments = store.details(tid).comments
    assert [(c.id, c.public, c.author_kind, c.channel) for c in comments] == [
        (note, False, "staff", "desk"),
        (reply, True, "staff", "desk"),
    ]
    assert [(e.action, e.actor, e.details) for e in store.audit_log(ref=tid)] == [
        ("reply", "maria", {"comment": reply}),
        ("note", "maria", {"comment": note}),
    ]


def test_assigning_records_who_had_it_and_who_has_it_now(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make(assignee="ben")
    store.assign(tid, "maria", "sup")
    store.assign(tid, "maria", "sup")  # no change, no entry
    store.assign(tid, None, "sup")
    assert store.get(tid).assignee is None
    assert [e.details for e in store.audit_log(ref=tid)] == [
        {"assignee": ["maria", None]},
        {"assignee": ["ben", "maria"]},
    ]


def test_priority_category_and_department_can_change_and_nothing_else(
    store: TicketStore, make: Callable[..., int]
) -> None:
    tid = make()
    store.update_fields(tid, "maria", priority="urgent", queue="it", category="internet")
    ticket = store.get(tid)
    assert (ticket.priority, ticket.queue, ticket.category) == ("urgent", "it", "internet")
    assert store.audit_log(ref=tid)[0].details == {
        "priority": ["normal", "urgent"],
        "queue": ["transportation", "it"],
        "category": [None, "internet"],
    }
    with pytest.raises(ValueError, match="cannot change body"):
        store.update_fields(tid, "maria", body="x")


def test_merging_moves_the_conversation_and_closes_the_duplicate(store: TicketStore, make: Callable[..., int]) -> None:
    photo = NewAttachment("bus-stop.jpg", "image/jpeg", 2048, "ab" * 32, "blobs/ab")
    keep = make(body="Bus 12 never came.")
    dup = make(requester_email="ANA.PEREZ@example.org", body="No bus again today.", channel="email",
               attachments=(photo,))  # fmt: skip
    store.add_comment(keep, NewComment(body="Still waiting.", author="Ana"), idempotency_key="c0")
    store.add_comment(dup, NewComment(body="Same bus, again", author="Ana"), idempotency_key="c1")
    store.log_time(dup, "maria", 10, "break_fix")
    store.merge(dup, keep, "maria")
    merged, kept = store.details(dup), store.details(keep)
    assert (merged.ticket.status, merged.ticket.merged_into, merged.ticket.next_due) == ("closed", keep, None)
    # The duplicate's first message joins the kept ticket as the family's, at the time they sent it, with its file.
    assert [(c.body, c.author_kind, c.channel) for c in kept.comments] == [
        ("No bus again today.", "requester", "email"),
        ("Still waiting.", "requester", None),
        ("Same bus, again", "requester", None),
    ]
    assert kept.comments[0].created_at == merged.ticket.created_at and merged.comments == []
    assert [(f.filename, f.comment_id) for f in kept.attachments] == [("bus-stop.jpg", kept.comments[0].id)]
    assert merged.attachments == []
    assert [e.minutes for e in kept.time_entries] == [10]
    assert merged.history[-1].comment == f"merged into #{keep}"
    assert [e.action for e in store.audit_log(actor="maria")][:2] == ["merged_from", "merge"]


def test_tickets_of_different_families_or_one_with_itself_are_not_merged(
    store: TicketStore, make: Callable[..., int]
) -> None:
    ana = make()
    luis = make(requester_email="luis@example.org", requester_phone="+15550100002")
    with pytest.raises(MergeRefused, match="same family"):
        store.merge(luis, ana, "maria")
    with pytest.raises(MergeRefused, match="itself"):
        store.merge(ana, ana, "maria")
    assert store.get(luis).merged_into is None


def test_time_is_logged_once_per_key_and_totalled_by_work_type_and_person(
    store: TicketStore, make: Callable[..., int]
) -> None:
    one, two = make(), make()
    monday = datetime(2027, 2, 1, 15, tzinfo=UTC)
    first = store.log_time(one, "coach.lee", 30, "break_fix", at=monday, idempotency_key="t1")
    assert store.log_time(one, "coach.lee", 30, "break_fix", at=monday, idempotency_key="t1") == first
    store.log_time(two, "coach.lee", 45, "curriculum", at=monday + timedelta(days=1))
    store.log_time(two, "maria", 15, "break_fix", at=monday + timedelta(days=8))
    assert store.time_totals() == {("break_fix",): 45, ("curriculum",): 45}
    assert store.time_totals(("person", "work_type"), until=monday + timedelta(days=7)) == {
        ("coach.lee", "break_fix"): 30,
        ("coach.lee", "curriculum"): 45,
    }
    with pytest.raises(ValueError, match="more than 0"):
        store.log_time(one, "maria", 0, "break_fix")
    assert store.details(one).time_entries == [first]


def test_an_incident_link_is_a_filter_and_an_audit_entry(store: TicketStore, make: Callable[..., int]) -> None:
    tid = make()
    make()
    store.link_incident(tid, "7", "maria")
    assert [t.id for t in store.page(TicketQuery(incident_id="7")).items] == [tid]
    store.record("maria", "export", None, rows=2)
    assert [(e.action, e.ticket_id, e.details) for e in store.audit_log(limit=2)] == [
        ("export", None, {"rows": 2}),
        ("link_incident", tid, {"incident_id": [None, "7"]}),
    ]
