"""The writes a worker makes (deliver, incidents, SLA rescheduling, records requests): each idempotent on its key.

These are on the deliver job's path, so each is one short transaction: a lookup of its key, its inserts, and
on SQLite one fsync at commit (WAL, synchronous=FULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import StoreBase, new_id, now, to_status_change
from gateway.tickets.records import DONE_STATUSES, PRIORITY_RANK, NewComment, NewTicket, StatusChange

DUE_COLUMNS = {"first_response": "first_response_due", "resolution": "resolution_due"}
# Built once: a statement made per call (`insert().values(row)`, a `where` with the key in it) is built and looked up
# in SQLAlchemy's compiled cache every time, about half the CPU of a ticket's whole write (0.5 of 1.0 ms).
TICKET_BY_KEY = sa.select(t.tickets.c.id).where(t.tickets.c.idempotency_key == sa.bindparam("key"))
INSERT_TICKET = t.tickets.insert()
INSERT_STATUS = t.status_history.insert()


def next_due(
    status: str, first_response_at: datetime | None, first: datetime | None, resolution: datetime | None
) -> datetime | None:
    """The due time of the clock still running: first response until given, then resolution; none once done."""
    if status in DONE_STATUSES:
        return None
    if first_response_at is None:
        return first or resolution
    return resolution


@dataclass(frozen=True)
class Removed:
    """What forgetting a family removed: how many tickets, and the stored files no remaining ticket uses."""

    tickets: int = 0
    blob_keys: tuple[str, ...] = ()


class TicketWrites(StoreBase):
    def create_ticket(self, new: NewTicket, idempotency_key: str) -> int:
        """Make a ticket (status `new`) with its files; the same key returns the first ticket's number."""

        def work(conn: sa.Connection) -> int:
            row = conn.execute(TICKET_BY_KEY, {"key": idempotency_key}).first()
            if row is not None:
                return int(row[0])
            at = now()
            values = {
                "idempotency_key": idempotency_key, "conversation": new.conversation, "status": "new",
                "subject": new.subject, "body": new.body, "channel": new.channel, "category": new.category,
                "queue": new.queue, "priority": new.priority, "priority_rank": PRIORITY_RANK.get(new.priority, 2),
                "school": new.school, "language": new.language, "requester_name": new.requester_name,
                "requester_email": new.requester_email, "requester_phone": new.requester_phone,
                "requester_role": new.requester_role, "requester_directory_id": new.requester_directory_id,
                "assignee": new.assignee, "first_response_due": new.first_response_due,
                "resolution_due": new.resolution_due,
                "next_due": next_due("new", None, new.first_response_due, new.resolution_due),
                "tags": " ".join(new.tags), "rule_ids": " ".join(new.rule_ids), "incident_id": new.incident_id,
                "created_at": at, "updated_at": at,
            }  # fmt: skip
            tid = new_id(conn.execute(INSERT_TICKET, values))
            conn.execute(INSERT_STATUS, {"ticket_id": tid, "status": "new", "actor": "intake", "at": at})
            self._attach(conn, tid, new.attachments, None)
            return tid

        return self._retrying(work)

    def add_comment(self, ref: str | int, comment: NewComment, idempotency_key: str | None = None) -> int:
        """Add a message to a ticket; with a key, the same key returns the first comment's id.

        A staff member's public comment is the ticket's first response, if none was given yet.
        """

        def work(conn: sa.Connection) -> int:
            if idempotency_key is not None:
                key = t.comments.c.idempotency_key == idempotency_key
                row = conn.execute(sa.select(t.comments.c.id).where(key)).first()
                if row is not None:
                    return int(row[0])
            tid = self._require(conn, ref)
            at = now()
            inserted = conn.execute(
                t.comments.insert().values(ticket_id=tid, idempotency_key=idempotency_key, author=comment.author,
                                           author_kind=comment.author_kind, channel=comment.channel,
                                           body=comment.body, public=comment.public, created_at=at)
            )  # fmt: skip
            cid = new_id(inserted)
            changes: dict[str, Any] = {"updated_at": at}
            if comment.author_kind == "staff" and comment.public:
                changes.update(self._first_response(conn, tid, at))
            conn.execute(t.tickets.update().where(t.tickets.c.id == tid).values(changes))
            self._attach(conn, tid, comment.attachments, cid)
            return cid

        return self._retrying(work)

    @staticmethod
    def _first_response(conn: sa.Connection, tid: int, at: datetime) -> dict[str, Any]:
        """The changes that mark the first response given at `at` (none when it already was)."""
        c = t.tickets.c
        row = conn.execute(sa.select(c.status, c.first_response_at, c.resolution_due).where(c.id == tid)).one()
        if row.first_response_at is not None:
            return {}
        return {"first_response_at": at, "next_due": next_due(row.status, at, None, row.resolution_due)}

    def set_status(
        self, ref: str | int, status: str, comment: str | None, actor: str, idempotency_key: str | None = None
    ) -> StatusChange:
        """Change the status, with a public comment if given. Any change stops the first-response clock; resolved
        and closed stop both. With a key, a retried change returns the first one and writes nothing."""

        def work(conn: sa.Connection) -> StatusChange:
            h = t.status_history
            if idempotency_key is not None:
                seen = conn.execute(sa.select(h).where(h.c.idempotency_key == idempotency_key)).first()
                if seen is not None:
                    return to_status_change(seen)
            tid = self._require(conn, ref)
            c = t.tickets.c
            row = conn.execute(
                sa.select(c.status, c.first_response_at, c.resolved_at, c.first_response_due, c.resolution_due)
                .where(c.id == tid)
            ).one()  # fmt: skip
            at = now()
            first_at = row.first_response_at or (at if status != "new" else None)
            resolved_at = (row.resolved_at or at) if status in DONE_STATUSES else None
            conn.execute(
                t.tickets.update().where(c.id == tid).values(
                    status=status, updated_at=at, first_response_at=first_at, resolved_at=resolved_at,
                    next_due=next_due(status, first_at, row.first_response_due, row.resolution_due))
            )  # fmt: skip
            inserted = conn.execute(
                h.insert().values(ticket_id=tid, status=status, previous_status=row.status, comment=comment,
                                  actor=actor, at=at, idempotency_key=idempotency_key)
            )  # fmt: skip
            if comment:
                conn.execute(t.comments.insert().values(ticket_id=tid, author=actor, author_kind="staff",
                                                        body=comment, public=True, created_at=at))  # fmt: skip
            # In the same transaction as the change: the audit log never misses one nor records one not made.
            self._audit(conn, actor, "status", tid, {"from": row.status, "to": status})
            return StatusChange(id=new_id(inserted), ticket_id=tid, status=status,
                                previous_status=row.status, comment=comment, actor=actor, at=at)  # fmt: skip

        return self._retrying(work)

    def set_due(self, ref: str | int, kind: str, due: datetime | None) -> None:
        """Move a response clock's due time (`first_response` or `resolution`): a closure declared later, or a new
        priority or queue (None: the policy sets no target for it)."""
        column = DUE_COLUMNS[kind]
        c = t.tickets.c
        with self._write() as conn:
            tid = self._require(conn, ref)
            row = _clocks(conn, tid)
            dues = {"first_response_due": row.first_response_due, "resolution_due": row.resolution_due, column: due}
            when = next_due(row.status, row.first_response_at, dues["first_response_due"], dues["resolution_due"])
            conn.execute(t.tickets.update().where(c.id == tid).values({column: due, "next_due": when}))

    def restart_resolution(self, ref: str | int, due: datetime, actor: str) -> bool:
        """A reopened ticket's resolution clock runs again, due at `due`: on the ticket and in the audit log
        (`sla_clock_restarted`), in one transaction. False, and nothing written, when it is already due then (a
        retried event)."""
        c = t.tickets.c
        with self._write() as conn:
            tid = self._require(conn, ref)
            row = _clocks(conn, tid)
            if row.resolution_due == due:
                return False
            when = next_due(row.status, row.first_response_at, row.first_response_due, due)
            conn.execute(t.tickets.update().where(c.id == tid).values(resolution_due=due, next_due=when))
            was = row.resolution_due.isoformat() if row.resolution_due else None
            self._audit(conn, actor, "sla_clock_restarted", tid, {"clock": "resolution", "was_due": was,
                                                                  "due": due.isoformat()})  # fmt: skip
            return True

    def link_child(self, parent_ref: str | int, child_ref: str | int) -> None:
        with self._write() as conn:
            parent = self._require(conn, parent_ref)
            child = self._require(conn, child_ref)
            conn.execute(t.tickets.update().where(t.tickets.c.id == child).values(parent_id=parent))

    def unlink_child(self, parent_ref: str | int, child_ref: str | int) -> None:
        """The child is no longer part of that parent (a desk's unlink from an incident); another parent stays."""
        c = t.tickets.c
        with self._write() as conn:
            parent, child = self._require(conn, parent_ref), self._require(conn, child_ref)
            conn.execute(t.tickets.update().where(c.id == child, c.parent_id == parent).values(parent_id=None))

    def forget(self, emails: Sequence[str], phones: Sequence[str], conversations: Sequence[str]) -> Removed:
        """A records request: delete the tickets of these addresses or conversations and everything on them.

        On SQLite the freed pages are zeroed (secure_delete), so the text is gone from the file too, and the search
        index is then merged until the deleted documents' words are gone from it as well. Returns the stored files
        that no remaining ticket uses, for the caller to delete.
        """
        c = t.tickets.c
        clauses = []
        if emails:
            clauses.append(sa.func.lower(c.requester_email).in_([e.lower() for e in emails]))
        if phones:
            clauses.append(c.requester_phone.in_(list(phones)))
        if conversations:
            clauses.append(c.conversation.in_(list(conversations)))
        if not clauses:
            return Removed()
        with self._write() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            try:
                removed = self._forget(conn, sa.or_(*clauses))
            finally:
                if self.dialect == "sqlite":
                    conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        if removed.tickets and self.dialect == "sqlite":
            self._compact_search()
            # Until a checkpoint the old pages are still in the main file (the zeroed ones wait in the WAL); a pooled
            # connection never closes to do it, so it is done here, and the WAL is emptied too.
            with self.engine.connect() as conn:
                conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        return removed

    def _compact_search(self) -> None:
        """Merge the FTS5 segments (a step at a time, so workers' writes wait at most one step) until none is left
        to merge: a deleted document's words stay in older segments until then. FTS5's documented loop: a merge
        step that changed fewer than two rows did nothing."""
        for fts in ("tickets_fts", "comments_fts"):
            while True:
                with self._write() as conn:
                    conn.exec_driver_sql("PRAGMA secure_delete=ON")
                    before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
                    conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('merge', -500)")  # noqa: S608
                    done = conn.exec_driver_sql("SELECT total_changes()").scalar_one() - before < 2
                    conn.exec_driver_sql("PRAGMA secure_delete=OFF")
                if done:
                    break

    def _forget(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> Removed:
        ids = [int(r[0]) for r in conn.execute(sa.select(t.tickets.c.id).where(where))]
        if not ids:
            return Removed()
        a = t.attachments.c
        keys = {
            r[0] for r in conn.execute(sa.select(a.storage_key).where(a.ticket_id.in_(ids), a.storage_key.isnot(None)))
        }
        for table in (t.attachments, t.comments, t.status_history, t.time_entries):
            conn.execute(table.delete().where(table.c.ticket_id.in_(ids)))
        c = t.tickets.c
        conn.execute(t.tickets.update().where(c.parent_id.in_(ids)).values(parent_id=None))
        conn.execute(t.tickets.update().where(c.merged_into.in_(ids)).values(merged_into=None))
        conn.execute(t.tickets.delete().where(c.id.in_(ids)))
        still = (
            {r[0] for r in conn.execute(sa.select(a.storage_key).where(a.storage_key.in_(sorted(keys))))}
            if keys
            else set()
        )
        self._audit(conn, "intake", "forget", None, {"tickets": len(ids)})
        return Removed(len(ids), tuple(sorted(keys - still)))


def _clocks(conn: sa.Connection, tid: int) -> sa.Row[Any, Any, Any, Any]:
    """What a due time is decided from: the ticket's status, its first response, and both due times."""
    c = t.tickets.c
    return conn.execute(
        sa.select(c.status, c.first_response_at, c.first_response_due, c.resolution_due).where(c.id == tid)
    ).one()
