"""The first release's schema (tickets, comments, status history, attachments), adopted in place.

A database made before the store had migrations has these tables already, with or without the columns
that release added on open (its MIGRATIONS list): the missing columns are added and the rows kept. A new
database gets the tables as that release made them. Later revisions change them from here.

Revision ID: r0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.tickets.schema import UtcDateTime

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[sa.Table]:
    m = sa.MetaData()
    return [
        sa.Table(
            "tickets", m,
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
            sa.Column("created_at", UtcDateTime, nullable=False),
            sa.Column("updated_at", UtcDateTime, nullable=False),
            sa.Column("assignee", sa.Text),
            sa.Column("first_response_due", UtcDateTime),
            sa.Column("resolution_due", UtcDateTime),
            sa.Column("tags", sa.Text, nullable=False, server_default=""),
            sa.Column("rule_ids", sa.Text, nullable=False, server_default=""),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "comments", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
            sa.Column("idempotency_key", sa.Text, unique=True),
            sa.Column("author", sa.Text, nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("public", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("created_at", UtcDateTime, nullable=False),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "status_history", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("comment", sa.Text),
            sa.Column("actor", sa.Text, nullable=False),
            sa.Column("at", UtcDateTime, nullable=False),
            sa.Column("idempotency_key", sa.Text),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "attachments", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
            sa.Column("filename", sa.Text, nullable=False),
            sa.Column("content_type", sa.Text, nullable=False),
            sa.Column("size", sa.Integer, nullable=False),
            sa.Column("sha256", sa.Text, nullable=False),
            sa.Column("storage_key", sa.Text),
            sa.Column("kept", sa.Boolean, nullable=False),
            sa.Column("reason", sa.Text),
            sqlite_autoincrement=True,
        ),
    ]  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in _tables():
        if table.name not in existing:
            table.create(bind)
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                # Only the first release's own later columns can be missing; each is nullable or has a default.
                default: Any = (
                    column.server_default.arg if isinstance(column.server_default, sa.DefaultClause) else None
                )
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=column.nullable,
                                                    server_default=default))  # fmt: skip
    indexes = {i["name"] for i in inspector.get_indexes("status_history")} if "status_history" in existing else set()
    if "status_history_key" not in indexes:
        op.create_index("status_history_key", "status_history", ["idempotency_key"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("the first release's schema is where the store starts")
