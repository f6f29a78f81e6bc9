"""The audit log: who did what, to which ticket, when. Desk actions write theirs in their own transaction
(desk.py); this is the log on its own, for everything else (sign-ins, account changes, an export) and for reading.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import StoreBase, UnknownTicket, ticket_id, to_audit
from gateway.tickets.records import AuditEntry, jsonable

BATCH = 1000


class AuditLog(StoreBase):
    def record(
        self, actor: str, action: str, ticket: str | int | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        """One entry: `actor` (a username, `cli:<user>`), `action` (a verb: `signin`, `user_disable`, `export`),
        the ticket it concerns (None for none; a number that names no ticket is kept in the details), details."""
        body = dict(jsonable(dict(details or {})))
        tid: int | None = None
        if ticket is not None:
            try:
                tid = ticket_id(ticket)
            except UnknownTicket:
                body["ticket"] = str(ticket)
        with self._write() as conn:
            self._audit(conn, actor, action, tid, body)

    def entries(
        self, *, ticket: str | int | None = None, actor: str | None = None, action: str | None = None,
        since: datetime | None = None, limit: int | None = None, offset: int = 0,
    ) -> Iterator[AuditEntry]:  # fmt: skip
        """Entries newest first, streamed a batch at a time (no limit unless one is given), skipping `offset`."""
        stmt = _filtered(sa.select(t.audit_log), ticket, actor, action, since).order_by(t.audit_log.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self._read() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=BATCH).execute(stmt):
                yield to_audit(row)

    def count(
        self, *, ticket: str | int | None = None, actor: str | None = None, action: str | None = None,
        since: datetime | None = None,
    ) -> int:  # fmt: skip
        """How many entries the same filters find."""
        stmt = _filtered(sa.select(sa.func.count()).select_from(t.audit_log), ticket, actor, action, since)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())


def _filtered(
    stmt: sa.Select[Any], ticket: str | int | None, actor: str | None, action: str | None, since: datetime | None
) -> sa.Select[Any]:
    a = t.audit_log.c
    if ticket is not None:
        stmt = stmt.where(a.ticket_id == ticket_id(ticket))
    if actor is not None:
        stmt = stmt.where(a.actor == actor)
    if action is not None:
        stmt = stmt.where(a.action == action)
    if since is not None:
        stmt = stmt.where(a.at >= since)
    return stmt
