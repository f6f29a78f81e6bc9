"""The desk's lists in every order and the family's other requests, at a million tickets.

- `ix_tickets_priority` and `ix_tickets_updated_at`: the desk's priority order and its "last changed" order over
  every ticket, not only the open ones (r0002's partial indexes). A list of done tickets, or of any status,
  sorted every ticket it found to show 50 of them; with these it reads its page off the index (the store tells
  SQLite when that is the cheaper way: gateway/tickets/reads.py `_in_order`).
- `ix_tickets_requester_email_lower` replaces `ix_tickets_requester_email`: the family's requests are found by
  `lower(requester_email)` (gateway/tickets/query.py, and a records request in writes.py), which the plain
  index could not serve, so the ticket page read every ticket to find a family's others.
- `ix_tickets_open_counts`: the open tickets with every field the desk filters them by, so the dashboard's and
  every desk page's counts of open tickets (by department, due soon, overdue, a list's total) are read from
  this index alone (at most the backlog) instead of a table row per open ticket through the status index.
- The facet indexes of r0002 (channel, school, language) end with the department too: an agent's list always
  names their departments, and its total of any status read a table row per ticket of the department (400,000).

Both engines take the same statements.

Revision ID: r0006
"""

from __future__ import annotations

from alembic import op

revision = "r0006"
down_revision = "r0005"
branch_labels = None
depends_on = None

# The same words as r0002's open indexes and gateway/tickets/query.py's OPEN_CLAUSE, so the planners match them.
OPEN = "status IN ('new', 'open', 'in_progress', 'waiting')"
# Every field the desk's list filters open tickets by, after the department that every agent's list names.
OPEN_FACETS = ("queue", "status", "assignee", "priority", "next_due", "channel", "school", "language")
# The same expressions as r0002's open indexes (and gateway/tickets/query.py's `order_by`), over every ticket.
CREATE = (
    "CREATE INDEX ix_tickets_priority ON tickets (priority_rank, (next_due IS NULL), next_due, id)",
    "CREATE INDEX ix_tickets_updated_at ON tickets (updated_at, id)",
    "CREATE INDEX ix_tickets_requester_email_lower ON tickets (lower(requester_email))",
    f"CREATE INDEX ix_tickets_open_counts ON tickets ({', '.join(OPEN_FACETS)}) WHERE {OPEN}",
)
# r0002's facet indexes, each now ending with the department (same names, so the schema's words stay).
FACETS = {
    "ix_tickets_channel": ("channel", "school", "language", "status", "queue"),
    "ix_tickets_school": ("school", "language", "channel", "status", "queue"),
    "ix_tickets_language": ("language", "school", "channel", "status", "queue"),
}


def upgrade() -> None:
    op.execute("DROP INDEX ix_tickets_requester_email")
    for statement in CREATE:
        op.execute(statement)
    for name, columns in FACETS.items():
        op.drop_index(name, "tickets")
        op.create_index(name, "tickets", list(columns))


def downgrade() -> None:
    raise NotImplementedError("the store moves forward only; restore a backup to go back")
