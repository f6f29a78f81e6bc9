"""What staff do to tickets at the desk (and from `intake tickets`): every change written with its audit entry,
in one transaction, so the audit log can never miss a change nor record one that did not happen.

These methods change the store only. Telling the requester (a public reply, a status change) is the caller's
job, through the outbox, after the change is committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import Refusal, UnknownTicket, new_id, now
from gateway.tickets.records import PRIORITY_RANK, NewComment, TimeEntry
from gateway.tickets.writes import TicketWrites

EDITABLE = ("priority", "category", "queue")


class MergeRefused(Refusal):
    """Two tickets that cannot be merged: the message says why."""


class DeskActions(TicketWrites):
    def reply(self, ref: str | int, body: str, actor: str, *, public: bool = True, channel: str | None = "desk") -> int:
        """A staff reply (public: it goes to the requester, and is the first response if none was given) or an
        internal note (never leaves). Returns the comment's id."""
        with self._write() as conn:
            cid = self._staff_comment(conn, ref, body, actor, public, channel)
            self._audit(conn, actor, "reply" if public else "note", self._require(conn, ref), {"comment": cid})
        return cid

    def _staff_comment(self, conn: sa.Connection, ref: str | int, body: str, actor: str, public: bool,
                       channel: str | None) -> int:  # fmt: skip
        tid = self._require(conn, ref)
        at = now()
        comment = NewComment(body=body, author=actor, author_kind="staff", public=public, channel=channel)
        inserted = conn.execute(
            t.comments.insert().values(ticket_id=tid, author=comment.author, author_kind=comment.author_kind,
                                       channel=comment.channel, body=comment.body, public=public, created_at=at)
        )  # fmt: skip
        changes: dict[str, Any] = {"updated_at": at}
        if public:
            changes.update(self._first_response(conn, tid, at))
        conn.execute(t.tickets.update().where(t.tickets.c.id == tid).values(changes))
        return new_id(inserted)

    def assign(self, ref: str | int, assignee: str | None, actor: str) -> None:
        """Give the ticket to a person, or to nobody (None: back to the group's balancing)."""
        self._change(ref, actor, "assign", {"assignee": assignee})

    def update_fields(self, ref: str | int, actor: str, **fields: str | None) -> None:
        """Change the priority, category or queue (the department)."""
        unknown = [f for f in fields if f not in EDITABLE]
        if unknown:
            raise ValueError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
        self._change(ref, actor, "update", dict(fields))

    def link_incident(self, ref: str | int, incident_id: str | None, actor: str) -> None:
        self._change(ref, actor, "link_incident", {"incident_id": incident_id})

    def _change(self, ref: str | int, actor: str, action: str, fields: dict[str, Any]) -> None:
        c = t.tickets.c
        with self._write() as conn:
            tid = self._require(conn, ref)
            before = conn.execute(sa.select(*(c[f] for f in fields)).where(c.id == tid)).one()._mapping
            changed = {f: [before[f], v] for f, v in fields.items() if before[f] != v}
            if not changed:
                return
            values: dict[str, Any] = {**fields, "updated_at": now()}
            if "priority" in fields:
                values["priority_rank"] = PRIORITY_RANK.get(str(fields["priority"]), 2)
            conn.execute(t.tickets.update().where(c.id == tid).values(values))
            self._audit(conn, actor, action, tid, changed)

    def merge(self, ref: str | int, into: str | int, actor: str) -> None:
        """Merge a ticket into another of the same family: its first message (as a message of the family's, at the
        time they sent it, with its files), its comments, files and time move there, and it is closed, pointing at
        the one it was merged into. The one it joined then holds the whole story."""
        c = t.tickets.c
        with self._write() as conn:
            source, target = self._require(conn, ref), self._require(conn, into)
            columns = (c.id, c.requester_email, c.requester_phone, c.status, c.merged_into)
            pair = {r.id: r for r in conn.execute(sa.select(*columns).where(c.id.in_([source, target])))}
            if source == target:
                raise MergeRefused("merge_self", "a ticket cannot be merged into itself")
            a, b = pair[source], pair[target]
            if b.merged_into is not None or a.merged_into is not None:
                raise MergeRefused("merge_already", "one of them is already merged")
            same = (a.requester_email and (a.requester_email or "").lower() == (b.requester_email or "").lower()) or (
                a.requester_phone and a.requester_phone == b.requester_phone
            )
            if not same:
                raise MergeRefused("merge_other_family", "only tickets from the same family are merged")
            self._move_first_message(conn, source, target)
            for table in (t.comments, t.attachments, t.time_entries):
                conn.execute(table.update().where(table.c.ticket_id == source).values(ticket_id=target))
            at = now()
            conn.execute(t.tickets.update().where(c.id == source).values(
                merged_into=target, status="closed", next_due=None, resolved_at=at, updated_at=at))  # fmt: skip
            conn.execute(t.tickets.update().where(c.id == target).values(updated_at=at))
            history = {"ticket_id": source, "status": "closed", "previous_status": a.status, "actor": actor, "at": at}
            conn.execute(t.status_history.insert().values({**history, "comment": f"merged into #{target}"}))
            self._audit(conn, actor, "merge", source, {"into": target})
            self._audit(conn, actor, "merged_from", target, {"from": source})

    @staticmethod
    def _move_first_message(conn: sa.Connection, source: int, target: int) -> None:
        """The merged ticket's first message, a message of the family's on the target (its files with it)."""
        c, a = t.tickets.c, t.attachments.c
        first = conn.execute(sa.select(c.body, c.channel, c.created_at, c.requester_name).where(c.id == source)).one()
        files = a.ticket_id == source, a.comment_id.is_(None)
        if not first.body.strip() and conn.execute(sa.select(a.id).where(*files).limit(1)).first() is None:
            return
        inserted = conn.execute(t.comments.insert().values(
            ticket_id=target, idempotency_key=f"merged-{source}", author=first.requester_name or "requester",
            author_kind="requester", channel=first.channel, body=first.body, public=True,
            created_at=first.created_at))  # fmt: skip
        conn.execute(t.attachments.update().where(*files).values(ticket_id=target, comment_id=new_id(inserted)))

    def log_time(
        self, ref: str | int, person: str, minutes: int, work_type: str, *, actor: str | None = None,
        at: datetime | None = None, note: str | None = None, idempotency_key: str | None = None,
    ) -> TimeEntry:  # fmt: skip
        """Record time spent on a ticket: minutes (over 0), a work type (from config), when it was done."""
        if minutes <= 0:
            raise ValueError("minutes must be more than 0")
        e = t.time_entries.c

        def work(conn: sa.Connection) -> TimeEntry:
            if idempotency_key is not None:
                row = conn.execute(sa.select(t.time_entries).where(e.idempotency_key == idempotency_key)).first()
                if row is not None:
                    m = row._mapping
                    return TimeEntry(m["id"], m["ticket_id"], m["person"], m["minutes"], m["work_type"], m["at"],
                                     m["note"])  # fmt: skip
            tid = self._require(conn, ref)
            created = now()
            when = at or created
            inserted = conn.execute(t.time_entries.insert().values(
                ticket_id=tid, person=person, minutes=minutes, work_type=work_type, at=when, note=note,
                created_at=created, idempotency_key=idempotency_key))  # fmt: skip
            entry_id = new_id(inserted)
            details = {"entry": entry_id, "minutes": minutes, "work_type": work_type, "person": person}
            self._audit(conn, actor or person, "log_time", tid, details)
            return TimeEntry(entry_id, tid, person, minutes, work_type, when, note)

        return self._retrying(work)

    def record(self, actor: str, action: str, ref: str | int | None = None, **details: Any) -> None:
        """An audit entry for something done outside these methods (a sign-in, a user added, an export)."""
        with self._write() as conn:
            tid = None
            if ref is not None:
                try:
                    tid = self._require(conn, ref)
                except UnknownTicket:
                    tid = None
            self._audit(conn, actor, action, tid, details)
