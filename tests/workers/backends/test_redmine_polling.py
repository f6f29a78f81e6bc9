"""Which of an issue's journals the family hears about, and the checkpoint between polls: table-driven, no Redmine.

The journals are shaped as Redmine 5.0's `GET /issues/<id>.json?include=journals` gives them (one with notes and a
status change; a private note with a status change arrives as two journals, Redmine splits them on save).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.models import TicketStatus
from workers.backends.redmine.polling import Checkpoint, Journal, Seen, events_of, to_ours

ME, STAFF = 5, 6
NEW, IN_PROGRESS, RESOLVED, REJECTED = 1, 2, 3, 6
AT = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
OURS = to_ours({TicketStatus.NEW: NEW, TicketStatus.OPEN: NEW, TicketStatus.IN_PROGRESS: IN_PROGRESS,
                TicketStatus.RESOLVED: RESOLVED}, closed=lambda s: s == REJECTED)  # fmt: skip


def journal(jid: int, notes: str = "", *, user: int = STAFF, private: bool = False,
            status: tuple[int, int] | None = None, minutes: int = 0) -> Journal:  # fmt: skip
    old, new = status or (None, None)
    return Journal(jid, user, "María López", notes, private, AT + timedelta(minutes=minutes), new, old)


def told(journals: list[Journal], *, current: int = NEW, after: int | None = None) -> list[tuple[str, str | None]]:
    events = events_of("12", current, journals, me=ME, since=AT, after_journal=after, ours=OURS)
    return [(e.status.value, e.public_comment) for e in events]


@pytest.mark.parametrize(
    ("journals", "current", "expected"),
    [
        ([journal(1, "We are on it.")], NEW, [("new", "We are on it.")]),
        ([journal(1, "On it.", status=(NEW, IN_PROGRESS))], IN_PROGRESS, [("in_progress", "On it.")]),
        ([journal(1, status=(NEW, RESOLVED))], RESOLVED, [("resolved", None)]),
        # a private note with a status change: the change is told, the note never
        ([journal(1, status=(NEW, RESOLVED)), journal(2, "Parent was rude.", private=True)], RESOLVED,
         [("resolved", None)]),
        ([journal(1, "Parent was rude.", private=True)], NEW, []),
        # the gateway's own notes (the family's follow-ups, our marks) never come back
        ([journal(1, "It came at 7:50.\n\nintake-id: 01M9", user=ME)], NEW, []),
        ([journal(1, "   ")], NEW, []),  # an edit of other fields: nothing to tell
        # each journal with the status it left the issue in, not the status now
        ([journal(1, "Looking.", status=(NEW, IN_PROGRESS)), journal(2, "Fixed.", status=(IN_PROGRESS, RESOLVED))],
         RESOLVED, [("in_progress", "Looking."), ("resolved", "Fixed.")]),
        ([journal(1, "Not ours.", status=(NEW, REJECTED))], REJECTED, [("closed", "Not ours.")]),
    ],
)  # fmt: skip
def test_which_journals_the_family_hears_about(
    journals: list[Journal], current: int, expected: list[tuple[str, str | None]]
) -> None:
    assert told(journals, current=current) == expected


def test_a_journal_already_read_is_not_told_again() -> None:
    journals = [journal(7, "First answer."), journal(9, "Second answer.", minutes=5)]
    assert told(journals, after=7) == [("new", "Second answer.")]
    assert told([journal(3, "Before the poller started.", minutes=-10)]) == []


def test_each_event_carries_the_journal_id_as_its_delivery_id() -> None:
    [event] = events_of("12", NEW, [journal(41, "Hi.")], me=ME, since=AT, after_journal=None, ours=OURS)
    assert (event.backend, event.ticket_ref, event.delivery_id, event.at) == ("redmine", "12", "journal-41", AT)


def test_the_checkpoint_round_trips_and_forgets_issues_older_than_the_overlap() -> None:
    cp = Checkpoint(high=AT, seen={3: Seen("2026-12-04T17:58:30Z", 10), 4: Seen("2026-12-04T17:50:00Z", 2)})
    cp.keep_within(120)
    assert Checkpoint.load(cp.dump()) == Checkpoint(high=AT, seen={3: Seen("2026-12-04T17:58:30Z", 10)})
    assert cp.since(60) == AT - timedelta(seconds=60)


@pytest.mark.parametrize("raw", ["", "not json", '{"seen": {}}', '{"high": 7}', "2026-12-04T18:00:00Z"])
def test_an_empty_or_unreadable_checkpoint_starts_from_now(raw: str) -> None:
    assert Checkpoint.load(raw) == Checkpoint()
