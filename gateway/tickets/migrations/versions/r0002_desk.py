"""The desk's schema: clocks and ranks on tickets, who wrote each comment, time entries, an audit log, staff
users, and the indexes the desk's lists and the dashboard's counts need at a million tickets.

SQLite times from the first release (ISO 8601 in whatever spelling `isoformat()` gave) are rewritten in the
fixed-width form, so that text order is time order. Existing tickets get their rank, their first-response and
resolution times from their status history, and the due time of the clock still running.

Revision ID: r0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.tickets.schema import UtcDateTime, to_sqlite_text

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None

TIMES = {
    "tickets": ("created_at", "updated_at", "first_response_due", "resolution_due"),
    "comments": ("created_at",),
    "status_history": ("at",),
}
INDEXES = {
    "tickets": [
        ("ix_tickets_conversation", ["conversation"]),
        ("ix_tickets_status_id", ["status", "id"]),
        ("ix_tickets_queue_status_id", ["queue", "status", "id"]),
        ("ix_tickets_assignee_status_id", ["assignee", "status", "id"]),
        ("ix_tickets_next_due", ["next_due"]),
        ("ix_tickets_created_at", ["created_at"]),
        # Each facet leads one index that carries the others, so a count over any mix of them (a school's Spanish
        # requests by text) is read from an index alone, never from a million rows.
        ("ix_tickets_channel", ["channel", "school", "language", "status"]),
        ("ix_tickets_school", ["school", "language", "channel", "status"]),
        ("ix_tickets_language", ["language", "school", "channel", "status"]),
        ("ix_tickets_requester_email", ["requester_email"]),
        ("ix_tickets_requester_phone", ["requester_phone"]),
        ("ix_tickets_parent_id", ["parent_id"]),
        ("ix_tickets_merged_into", ["merged_into"]),
        ("ix_tickets_incident_id", ["incident_id"]),
    ],
    "comments": [("ix_comments_ticket_id", ["ticket_id", "id"])],
    "status_history": [("ix_status_history_ticket_id", ["ticket_id", "id"])],
    "attachments": [("ix_attachments_ticket_id", ["ticket_id"]), ("ix_attachments_storage_key", ["storage_key"])],
    "time_entries": [
        ("ix_time_entries_ticket_id", ["ticket_id"]),
        ("ix_time_entries_at", ["at"]),
        ("ix_time_entries_person_at", ["person", "at"]),
    ],
    "audit_log": [
        ("ix_audit_log_ticket_id", ["ticket_id", "id"]),
        ("ix_audit_log_at", ["at"]),
        ("ix_audit_log_actor_at", ["actor", "at"]),
    ],
}


# The desk's working set: open tickets only, in its own order (most urgent, then the running clock due soonest,
# tickets without a clock last). Partial, so each stays the size of the backlog however many tickets are closed;
# the queries name the open statuses in exactly these words (gateway/tickets/query.py), so both engines use them.
OPEN = "status IN ('new', 'open', 'in_progress', 'waiting')"
DESK_ORDER = "priority_rank, (next_due IS NULL), next_due, id"
OPEN_INDEXES = {
    "ix_tickets_open_priority": DESK_ORDER,
    "ix_tickets_open_queue": f"queue, {DESK_ORDER}",
    "ix_tickets_open_assignee": f"assignee, {DESK_ORDER}",
}


def _new_tables() -> list[sa.Table]:
    m = sa.MetaData()
    sa.Table("tickets", m, sa.Column("id", sa.Integer, primary_key=True))
    return [
        sa.Table(
            "time_entries", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
            sa.Column("person", sa.Text, nullable=False),
            sa.Column("minutes", sa.Integer, nullable=False),
            sa.Column("work_type", sa.Text, nullable=False),
            sa.Column("at", UtcDateTime, nullable=False),
            sa.Column("note", sa.Text),
            sa.Column("created_at", UtcDateTime, nullable=False),
            sa.Column("idempotency_key", sa.Text, unique=True),
            sa.CheckConstraint("minutes > 0", name="ck_time_entries_minutes"),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "audit_log", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", UtcDateTime, nullable=False),
            sa.Column("actor", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("ticket_id", sa.Integer),
            sa.Column("details", sa.JSON, nullable=False),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "users", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("username", sa.Text, nullable=False, unique=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("email", sa.Text, unique=True),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("password_hash", sa.Text),
            sa.Column("source", sa.Text, nullable=False, server_default="local"),
            sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
            sa.Column("last_failed_login_at", UtcDateTime),
            sa.Column("locked_until", UtcDateTime),
            sa.Column("last_login_at", UtcDateTime),
            sa.Column("created_at", UtcDateTime, nullable=False),
            sa.Column("updated_at", UtcDateTime, nullable=False),
            sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_users_role"),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "user_departments", m,
            sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("department", sa.Text, primary_key=True),
        ),
    ]  # fmt: skip


def _fixed_width_times(bind: sa.Connection) -> None:
    for table, columns in TIMES.items():
        rows = bind.execute(sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")).all()  # noqa: S608
        changed = []
        for row in rows:
            values = {c: to_sqlite_text(row[i + 1]) for i, c in enumerate(columns)}
            if any(values[c] != row[i + 1] for i, c in enumerate(columns)):
                changed.append({"row_id": row[0], **values})
        if changed:
            sets = ", ".join(f"{c} = :{c}" for c in columns)
            bind.execute(sa.text(f"UPDATE {table} SET {sets} WHERE id = :row_id"), changed)  # noqa: S608


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        _fixed_width_times(bind)
    op.add_column("tickets", sa.Column("priority_rank", sa.SmallInteger, nullable=False, server_default="2"))
    for name in ("next_due", "first_response_at", "resolved_at"):
        op.add_column("tickets", sa.Column(name, UtcDateTime))
    op.add_column("tickets", sa.Column("incident_id", sa.Text))
    op.add_column("comments", sa.Column("author_kind", sa.Text, nullable=False, server_default="requester"))
    op.add_column("comments", sa.Column("channel", sa.Text))
    op.add_column("status_history", sa.Column("previous_status", sa.Text))
    if sqlite:  # SQLite adds a column with its reference in one statement; it cannot add a constraint later
        op.execute("ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets (id)")
        op.execute("ALTER TABLE attachments ADD COLUMN comment_id INTEGER REFERENCES comments (id)")
    else:
        op.add_column("tickets", sa.Column("merged_into", sa.Integer))
        op.create_foreign_key("tickets_merged_into_fkey", "tickets", "tickets", ["merged_into"], ["id"])
        op.add_column("attachments", sa.Column("comment_id", sa.Integer))
        op.create_foreign_key("attachments_comment_id_fkey", "attachments", "comments", ["comment_id"], ["id"])

    op.execute(
        "UPDATE tickets SET priority_rank = CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 "
        "WHEN 'low' THEN 3 ELSE 2 END"
    )
    # The first release stopped the first-response clock at any status change, and resolved at resolved/closed.
    op.execute(
        "UPDATE tickets SET first_response_at = (SELECT min(h.at) FROM status_history h "
        "WHERE h.ticket_id = tickets.id AND h.status <> 'new')"
    )
    op.execute(
        "UPDATE tickets SET resolved_at = (SELECT max(h.at) FROM status_history h WHERE h.ticket_id = tickets.id "
        "AND h.status IN ('resolved', 'closed')) WHERE status IN ('resolved', 'closed')"
    )
    op.execute(
        "UPDATE tickets SET next_due = CASE WHEN status IN ('resolved', 'closed') THEN NULL "
        "WHEN first_response_at IS NULL THEN coalesce(first_response_due, resolution_due) ELSE resolution_due END"
    )
    # Comments written by `intake tickets update` carried no key; the requester's follow-ups always did.
    op.execute("UPDATE comments SET author_kind = 'staff' WHERE idempotency_key IS NULL")
    op.execute("UPDATE comments SET author_kind = 'system' WHERE idempotency_key LIKE 'undelivered-%'")

    for new_table in _new_tables():
        new_table.create(bind)
    for table_name, indexes in INDEXES.items():
        for name, columns in indexes:
            op.create_index(name, table_name, columns)
    for name, expressions in OPEN_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON tickets ({expressions}) WHERE {OPEN}")


def downgrade() -> None:
    raise NotImplementedError("the store moves forward only; restore a backup to go back")
