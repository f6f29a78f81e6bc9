"""What the desk, the dashboard and `intake tickets list` ask for: filters, a search, a sort, one page.

Every filter is a list meaning "any of"; filters together mean "all of". The same `TicketQuery` gives the page,
its total, the CSV export and the dashboard's counts, so a number on the dashboard and the list behind it never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from gateway.settings.insight import DUE_SOON_MINUTES
from gateway.tickets import schema as t
from gateway.tickets.records import DONE_STATUSES, OPEN_STATUSES
from gateway.tickets.search import matches

Sort = Literal["newest", "oldest", "priority", "updated"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "priority", "updated")
Due = Literal["soon", "overdue", "soon_or_overdue"]
DUES: tuple[Due, ...] = ("soon", "overdue", "soon_or_overdue")
# Fields the dashboard may count by.
# The open statuses exactly as the partial indexes of revision r0002 name them: a query that says the same words
# lets SQLite (which keeps no statistics on how few tickets are open) use them instead of reading every ticket.
OPEN_CLAUSE = "tickets.status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"


def open_clause(dialect: str) -> sa.ColumnElement[bool] | sa.TextClause:
    """The open statuses in the partial indexes' own words. SQLite, which keeps no statistics, is also told the
    clause is likely true: else it reads the open tickets through the status index, a table row each (the
    dashboard's and every desk page's count by department: 270-370 ms at a million tickets), where a partial
    index over the open tickets alone answers (5-15 ms)."""
    return sa.func.likely(sa.text(OPEN_CLAUSE)) if dialect == "sqlite" else sa.text(OPEN_CLAUSE)


def not_merged(dialect: str) -> sa.ColumnElement[bool]:
    """Not merged into another ticket: nearly every ticket. SQLite, which keeps no statistics, read `IS NULL` as a
    narrow equality and walked the whole merged_into index, a table row per ticket, instead of the time range
    beside it (the dashboard's last week: 700 ms at a million tickets); it is told the clause is likely true."""
    clause = t.tickets.c.merged_into.is_(None)
    return sa.func.likely(clause) if dialect == "sqlite" else clause


GROUPABLE = ("status", "queue", "priority", "channel", "school", "language", "assignee", "category", "requester_role")
# A desk page is at most this long; the CSV export has no limit.
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets. `status` may name `open` (new, open, in progress or waiting) and `done` (resolved or closed)."""

    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    assignee: tuple[str, ...] = ()
    unassigned: bool = False  # with `assignee`: theirs or nobody's
    channel: tuple[str, ...] = ()
    school: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()  # the department's queue
    category: tuple[str, ...] = ()
    due: Due | None = None  # the running clock is due within `due_within`, or already overdue, or either
    # Callers with settings pass `settings.dashboard.due_soon`: a dashboard count and the desk list behind it agree.
    due_within: timedelta = timedelta(minutes=DUE_SOON_MINUTES)
    created_from: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive
    requester: tuple[str, ...] = ()  # an email (any case) or an E.164 phone: a family's requests
    incident_id: str | None = None
    # A merged ticket is closed and shows as such; the desk may leave it out. (Off by default: the clause would keep
    # every count from being answered out of an index alone.)
    hide_merged: bool = False
    text: str = ""  # full-text search: every word in the subject and message, or every word in one comment

    def where(self, dialect: str, at: datetime) -> list[sa.ColumnElement[bool] | sa.TextClause]:
        """The SQL conditions, all of which a ticket must meet. `at` is "now" for the due filters."""
        c = t.tickets.c
        out: list[sa.ColumnElement[bool] | sa.TextClause] = []
        if self.status:
            wanted: set[str] = set()
            for s in self.status:
                wanted.update(OPEN_STATUSES if s == "open" else DONE_STATUSES if s == "done" else [s])
            if wanted <= set(OPEN_STATUSES):
                out.append(open_clause(dialect))
            if wanted != set(OPEN_STATUSES):
                out.append(c.status.in_(sorted(wanted)))
        for column, values in (
            (c.priority, self.priority),
            (c.channel, self.channel),
            (c.school, self.school),
            (c.language, self.language),
            (c.queue, self.queue),
            (c.category, self.category),
        ):
            if values:
                out.append(column.in_(list(values)))  # fmt: skip
        if self.assignee or self.unassigned:
            either = []
            if self.assignee:
                either.append(c.assignee.in_(list(self.assignee)))
            if self.unassigned:
                either.append(c.assignee.is_(None))
            out.append(sa.or_(*either))
        if self.due is not None:
            out.append(open_clause(dialect))  # only open tickets have a running clock: this lets the open indexes serve
        clock: sa.ColumnElement[bool] | None = None
        if self.due == "overdue":
            clock = c.next_due < at
        elif self.due == "soon":
            clock = sa.and_(c.next_due >= at, c.next_due < at + self.due_within)
        elif self.due == "soon_or_overdue":
            clock = c.next_due < at + self.due_within
        if clock is not None:
            # Overdue may be most of the backlog. SQLite, without statistics, took the range of due times for a few
            # rows and read a table row for each (200 ms at a million tickets, 51,000 overdue); told it is likely,
            # it reads the open tickets' own index, which holds the due time (ix_tickets_open_counts, 4 ms).
            out.append(sa.func.likely(clock) if dialect == "sqlite" else clock)
        if self.created_from is not None:
            out.append(c.created_at >= self.created_from)
        if self.created_until is not None:
            out.append(c.created_at < self.created_until)
        if self.hide_merged:
            out.append(not_merged(dialect))
        pinpoint: list[sa.ColumnElement[bool] | sa.TextClause] = []
        if self.requester:
            emails = [r.lower() for r in self.requester if "@" in r]
            phones = [r for r in self.requester if "@" not in r]
            # Only the kinds given: an empty IN is a subquery that SQLite's OR of two indexes walks a department for.
            either = [sa.func.lower(c.requester_email).in_(emails)] if emails else []
            either += [c.requester_phone.in_(phones)] if phones else []
            pinpoint.append(sa.or_(*either))
        if self.incident_id is not None:
            pinpoint.append(c.incident_id == self.incident_id)
        if self.text.strip():
            out.append(matches(self.text, dialect, alone=not out and not pinpoint))
        if pinpoint and dialect == "sqlite":
            # A family's requests, an incident's: a handful of tickets, found by their own index. SQLite keeps no
            # statistics and would rather read a whole department (an agent's lists always name theirs): 400,000
            # rows at a million tickets. The other filters, told to it as likely, only check the handful.
            out = [sa.func.likely(w) for w in out]
        return out + pinpoint


def order_by(sort: Sort) -> list[sa.UnaryExpression[Any]]:
    """`priority`: most urgent first, then the clock due soonest (tickets without one last), then oldest."""
    c = t.tickets.c
    if sort == "newest":
        return [c.id.desc()]
    if sort == "oldest":
        return [c.id.asc()]
    if sort == "updated":
        return [c.updated_at.desc(), c.id.desc()]
    return [c.priority_rank.asc(), c.next_due.is_(None).asc(), c.next_due.asc(), c.id.asc()]
