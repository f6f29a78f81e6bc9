"""What every part of the store shares: its engine, its transactions, and rows turned into records."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.engine import WRITE_OPTION
from gateway.tickets.records import (
    Attachment,
    AuditEntry,
    Comment,
    NewAttachment,
    StatusChange,
    Ticket,
    TimeEntry,
)

R = TypeVar("R")


class UnknownTicket(LookupError):
    """No ticket has that number."""


class Refusal(ValueError):
    """A desk action refused for a reason staff can put right. `code` names the reason (the desk's pages say it in
    the reader's language, gateway/web/desk/words.py `refused_<code>`, filled in with `values`); the message is
    the English the command line prints."""

    def __init__(self, code: str, message: str, **values: str) -> None:
        super().__init__(message)
        self.code, self.values = code, values


def now() -> datetime:
    return datetime.now(UTC)


def ticket_id(ref: str | int) -> int:
    """A ticket number from what a person or a backend ref gives: 12, "12" or "#12"."""
    text = str(ref).lstrip("#")
    if not text.isdigit():
        raise UnknownTicket(f"no ticket {ref}")
    return int(text)


def new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def to_ticket(row: sa.Row[Any]) -> Ticket:
    m = row._mapping
    return Ticket(
        id=m["id"], status=m["status"], subject=m["subject"], body=m["body"], channel=m["channel"],
        category=m["category"], queue=m["queue"], priority=m["priority"], school=m["school"],
        language=m["language"], requester_name=m["requester_name"], requester_email=m["requester_email"],
        requester_phone=m["requester_phone"], requester_role=m["requester_role"],
        requester_directory_id=m["requester_directory_id"], conversation=m["conversation"], assignee=m["assignee"],
        first_response_due=m["first_response_due"], resolution_due=m["resolution_due"], next_due=m["next_due"],
        first_response_at=m["first_response_at"], resolved_at=m["resolved_at"], created_at=m["created_at"],
        updated_at=m["updated_at"], tags=_words(m["tags"]), rule_ids=_words(m["rule_ids"]),
        parent_id=m["parent_id"], merged_into=m["merged_into"], incident_id=m["incident_id"],
    )  # fmt: skip


def to_comment(row: sa.Row[Any]) -> Comment:
    m = row._mapping
    return Comment(
        id=m["id"],
        ticket_id=m["ticket_id"],
        author=m["author"],
        author_kind=m["author_kind"],
        channel=m["channel"],
        body=m["body"],
        public=bool(m["public"]),
        created_at=m["created_at"],
    )


def to_attachment(row: sa.Row[Any]) -> Attachment:
    m = row._mapping
    return Attachment(
        id=m["id"],
        ticket_id=m["ticket_id"],
        comment_id=m["comment_id"],
        filename=m["filename"],
        content_type=m["content_type"],
        size=m["size"],
        sha256=m["sha256"],
        storage_key=m["storage_key"],
        kept=bool(m["kept"]),
        reason=m["reason"],
    )


def to_status_change(row: sa.Row[Any]) -> StatusChange:
    m = row._mapping
    return StatusChange(
        id=m["id"],
        ticket_id=m["ticket_id"],
        status=m["status"],
        previous_status=m["previous_status"],
        comment=m["comment"],
        actor=m["actor"],
        at=m["at"],
    )


def to_time_entry(row: sa.Row[Any]) -> TimeEntry:
    m = row._mapping
    return TimeEntry(id=m["id"], ticket_id=m["ticket_id"], person=m["person"], minutes=m["minutes"],
                     work_type=m["work_type"], at=m["at"], note=m["note"])  # fmt: skip


def to_audit(row: sa.Row[Any]) -> AuditEntry:
    m = row._mapping
    details = m["details"]
    if isinstance(details, str):
        details = json.loads(details)
    return AuditEntry(id=m["id"], at=m["at"], actor=m["actor"], action=m["action"], ticket_id=m["ticket_id"],
                      details=dict(details or {}))  # fmt: skip


class StoreBase:
    """The engine and the two kinds of transaction: `_read()` and `_write()` (SQLite's write lock at BEGIN)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writer.begin() as conn:
            yield conn

    def _retrying(self, work: Callable[[sa.Connection], R]) -> R:
        """A write that checks an idempotency key and then inserts: on PostgreSQL two workers may both find the
        key free; the second insert then fails on the unique index, and running the work again finds the first."""
        try:
            with self._write() as conn:
                return work(conn)
        except sa.exc.IntegrityError:
            with self._write() as conn:
                return work(conn)

    @staticmethod
    def _require(conn: sa.Connection, ref: str | int) -> int:
        tid = ticket_id(ref)
        if conn.execute(sa.select(t.tickets.c.id).where(t.tickets.c.id == tid)).first() is None:
            raise UnknownTicket(f"no ticket {ref}")
        return tid

    @staticmethod
    def _attach(conn: sa.Connection, tid: int, files: tuple[NewAttachment, ...], comment_id: int | None) -> None:
        if files:
            conn.execute(
                t.attachments.insert(),
                [{"ticket_id": tid, "comment_id": comment_id, "filename": a.filename, "content_type": a.content_type,
                  "size": a.size, "sha256": a.sha256, "storage_key": a.storage_key, "kept": a.kept,
                  "reason": a.reason} for a in files],
            )  # fmt: skip

    @staticmethod
    def _audit(conn: sa.Connection, actor: str, action: str, tid: int | None, details: dict[str, Any]) -> None:
        conn.execute(t.audit_log.insert().values(at=now(), actor=actor, action=action, ticket_id=tid, details=details))
