"""The built-in store's tables as the code reads and writes them (SQLAlchemy Core), for both engines.

The migrations in `migrations/versions/` make the database look like this; a test checks that a database
upgraded from the first release and a new one both match it exactly. Search lives beside these tables and is
not described here: SQLite's FTS5 tables `tickets_fts` and `comments_fts` (kept by triggers) and PostgreSQL's
generated `search_vector` columns (see search.py); nor are the indexes on expressions (the desk's orders, the
family's `lower(requester_email)`: revisions r0002, r0004 and r0006), which SQLite's reflection cannot read.

Times: PostgreSQL keeps `timestamp with time zone`; SQLite keeps fixed-width ISO 8601 text in UTC
(`2027-02-01T14:00:00.000000+00:00`), so text order is time order and indexes on times work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

SQLITE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, stored in UTC: timestamptz on PostgreSQL, sortable ISO text on SQLite."""

    impl = sa.String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.String(32))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ticket store keeps aware times only")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.strftime(SQLITE_TIME_FORMAT)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return utc_time(value)


def utc_time(value: Any) -> datetime | None:
    """A time as either engine's driver gives it (SQLite's text, PostgreSQL's datetime), aware and in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_sqlite_text(value: str | None) -> str | None:
    """A time the first release wrote (any ISO 8601 spelling) in the fixed-width form; unreadable ones kept."""
    if not value:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.strftime(SQLITE_TIME_FORMAT)


metadata = sa.MetaData()
Time = UtcDateTime

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("conversation", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="new"),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("category", sa.Text),
    sa.Column("queue", sa.Text, nullable=False),
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("school", sa.Text),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("requester_name", sa.Text, nullable=False, server_default=""),
    sa.Column("requester_email", sa.Text),
    sa.Column("requester_phone", sa.Text),
    sa.Column("requester_role", sa.Text, nullable=False, server_default="unknown"),
    sa.Column("requester_directory_id", sa.Text),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("tickets.id")),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("assignee", sa.Text),
    sa.Column("first_response_due", Time),
    sa.Column("resolution_due", Time),
    sa.Column("tags", sa.Text, nullable=False, server_default=""),
    sa.Column("rule_ids", sa.Text, nullable=False, server_default=""),
    # Added for the desk (revision 0002).
    sa.Column("priority_rank", sa.SmallInteger, nullable=False, server_default="2"),
    sa.Column("next_due", Time),
    sa.Column("first_response_at", Time),
    sa.Column("resolved_at", Time),
    sa.Column("merged_into", sa.Integer, sa.ForeignKey("tickets.id")),
    sa.Column("incident_id", sa.Text),
    sa.Index("ix_tickets_conversation", "conversation"),
    sa.Index("ix_tickets_status_id", "status", "id"),
    sa.Index("ix_tickets_queue_status_id", "queue", "status", "id"),
    sa.Index("ix_tickets_assignee_status_id", "assignee", "status", "id"),
    sa.Index("ix_tickets_next_due", "next_due"),
    sa.Index("ix_tickets_created_at", "created_at"),
    sa.Index("ix_tickets_channel", "channel", "school", "language", "status", "queue"),
    sa.Index("ix_tickets_school", "school", "language", "channel", "status", "queue"),
    sa.Index("ix_tickets_language", "language", "school", "channel", "status", "queue"),
    sa.Index("ix_tickets_requester_phone", "requester_phone"),
    sa.Index("ix_tickets_parent_id", "parent_id"),
    sa.Index("ix_tickets_merged_into", "merged_into"),
    sa.Index("ix_tickets_incident_id", "incident_id"),
    # Revision r0006.
    sa.Index("ix_tickets_updated_at", "updated_at", "id"),
    sqlite_autoincrement=True,
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("idempotency_key", sa.Text, unique=True),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("author_kind", sa.Text, nullable=False, server_default="requester"),
    sa.Column("channel", sa.Text),
    sa.Index("ix_comments_ticket_id", "ticket_id", "id"),
    sqlite_autoincrement=True,
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("previous_status", sa.Text),
    sa.Index("status_history_key", "idempotency_key", unique=True),
    sa.Index("ix_status_history_ticket_id", "ticket_id", "id"),
    sqlite_autoincrement=True,
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("storage_key", sa.Text),
    sa.Column("kept", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id")),
    sa.Index("ix_attachments_ticket_id", "ticket_id"),
    sa.Index("ix_attachments_storage_key", "storage_key"),
    sqlite_autoincrement=True,
)

time_entries = sa.Table(
    "time_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("person", sa.Text, nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("work_type", sa.Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("idempotency_key", sa.Text, unique=True),
    sa.CheckConstraint("minutes > 0", name="ck_time_entries_minutes"),
    sa.Index("ix_time_entries_ticket_id", "ticket_id"),
    sa.Index("ix_time_entries_at", "at"),
    sa.Index("ix_time_entries_person_at", "person", "at"),
    sqlite_autoincrement=True,
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    # No foreign key: the record of what was done to a ticket outlives the ticket (a records request).
    sa.Column("ticket_id", sa.Integer),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_log_ticket_id", "ticket_id", "id"),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor_at", "actor", "at"),
    sqlite_autoincrement=True,
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text),
    sa.Column("source", sa.Text, nullable=False, server_default="local"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failed_login_at", Time),
    sa.Column("locked_until", Time),
    sa.Column("last_login_at", Time),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_users_role"),
    sqlite_autoincrement=True,
)

user_departments = sa.Table(
    "user_departments",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("department", sa.Text, primary_key=True),
)

# Attachments' bytes when `blobs.store` is `postgres` (gateway/store/blobs_postgres.py): one row per distinct file,
# named by its sha256, shared by every host. Unused with the default file store.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)
