"""Status back from Redmine by polling: which journals become status events, and the checkpoint between polls.

Redmine has no webhooks, and its issue list does not return journals (in 5.0 `include=` on /issues.json
takes only attachments and relations). So a poll is one paged query for every issue carrying our request id
field that changed since the checkpoint, then one read with journals of each issue in it that changed
since the last poll: never a call per open issue, and nothing at all for an issue nobody touched.

The checkpoint is Redmine's own `updated_on` of the newest change seen (its clock, not ours), read again
with an overlap for changes still being saved when the last poll ran, plus the issues seen within that
overlap with their last journal id, so a change is turned into events once even when read twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.models import StatusEvent, TicketStatus

NAME = "redmine"


def aware(at: datetime) -> datetime:
    """python-redmine reads Redmine's `...Z` times as naive datetimes; they are UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def iso(at: datetime) -> str:
    return aware(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Seen:
    updated_on: str
    last_journal: int


@dataclass
class Checkpoint:
    """Where the last poll stopped. Serialised as JSON: the sync process keeps it as an opaque string."""

    high: datetime | None = None
    seen: dict[int, Seen] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: str) -> Checkpoint:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            high = datetime.fromisoformat(data["high"].replace("Z", "+00:00"))
            seen = {int(k): Seen(str(v[0]), int(v[1])) for k, v in data.get("seen", {}).items()}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return cls()  # unreadable: start from now rather than replay all history to families
        return cls(high=aware(high), seen=seen)

    def dump(self) -> str:
        seen = {str(k): [v.updated_on, v.last_journal] for k, v in sorted(self.seen.items())}
        return json.dumps({"high": iso(self.high) if self.high else None, "seen": seen}, separators=(",", ":"))

    def since(self, overlap_s: int) -> datetime | None:
        return self.high - timedelta(seconds=overlap_s) if self.high else None

    def keep_within(self, overlap_s: int) -> None:
        """Forget issues last changed before the overlap: the next poll's query no longer returns them. Redmine
        reads `>= t` as `> t - 1 s` (its times keep fractions of a second), so one second more is kept."""
        since = self.since(overlap_s + 1)
        if since is not None:
            floor = iso(since)
            self.seen = {k: v for k, v in self.seen.items() if v.updated_on >= floor}


@dataclass(frozen=True)
class Journal:
    """One entry of an issue's history, as the API user may see it."""

    id: int
    user_id: int
    user_name: str
    notes: str
    private: bool
    created_on: datetime
    new_status: int | None = None  # the status it set, when it changed the status
    old_status: int | None = None


def status_at_each(current: int, journals: list[Journal]) -> dict[int, int]:
    """The issue's status right after each journal: from the first change's old value (or the current status
    when it never changed), following each change in order."""
    changes = [j for j in journals if j.new_status is not None]
    status = changes[0].old_status if changes and changes[0].old_status is not None else current
    after: dict[int, int] = {}
    for j in journals:
        if j.new_status is not None:
            status = j.new_status
        after[j.id] = status
    return after


def events_of(
    ref: str,
    current_status: int,
    journals: Iterable[Journal],
    *,
    me: int,
    since: datetime,
    after_journal: int | None,
    ours: Callable[[int], TicketStatus],
) -> list[StatusEvent]:
    """The status events in an issue's new journals: each status change, and each public note by staff (quoted as
    written). Private notes never; nothing the gateway itself wrote (the family's follow-ups, our own notes)."""
    ordered = sorted(journals, key=lambda j: j.id)
    after = status_at_each(current_status, ordered)
    events: list[StatusEvent] = []
    for j in ordered:
        new = j.id > after_journal if after_journal is not None else aware(j.created_on) >= since
        if not new or j.user_id == me:
            continue
        comment = j.notes.strip() if j.notes and not j.private else ""
        if j.new_status is None and not comment:
            continue  # a private note, or an edit of other fields: nothing the family is told
        events.append(
            StatusEvent(
                backend=NAME,
                ticket_ref=ref,
                status=ours(after[j.id]),
                public_comment=comment or None,
                actor=j.user_name or "staff",
                at=aware(j.created_on),
                delivery_id=f"journal-{j.id}",
            )
        )
    return events


def to_ours(statuses: dict[TicketStatus, int], closed: Callable[[int], bool]) -> Callable[[int], TicketStatus]:
    """Redmine's status id -> ours: the first of our statuses the config maps to it (so New reads as `new`), else
    `closed` for a status Redmine counts as closed, else `open`."""
    back: dict[int, TicketStatus] = {}
    for ours, theirs in statuses.items():
        back.setdefault(theirs, ours)

    def convert(status_id: int) -> TicketStatus:
        if status_id in back:
            return back[status_id]
        return TicketStatus.CLOSED if closed(status_id) else TicketStatus.OPEN

    return convert
