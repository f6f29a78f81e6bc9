"""What the dashboard and the reports read: the clocks due soonest, the response clocks of the tickets made in a
range, hourly counts by a field, and the time entries of a range. Reports add these up in the district's calendar
(gateway/reports/); here they are only read, each with one query over an index on a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import StoreBase, to_ticket
from gateway.tickets.query import GROUPABLE, not_merged, open_clause
from gateway.tickets.records import Ticket

# The fields a report may group tickets by.
FACETS = ("channel", "queue", "category", "school", "language", "priority", "requester_role")
STREAM_BATCH = 2000
# A ticket's response clocks as the database driver returns them (see `raw_clocks`).
RawClock = tuple[Any, Any, Any, str]


@dataclass(frozen=True, slots=True)
class Clocks:
    """One ticket's response clocks, with what a report groups it by."""

    id: int
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    status: str
    queue: str
    channel: str
    school: str | None
    language: str
    category: str | None
    priority: str


@dataclass(frozen=True, slots=True)
class TimeSpent:
    at: datetime
    person: str
    work_type: str
    minutes: int
    queue: str


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TicketStats(StoreBase):
    def soonest_due(self, limit: int = 10) -> list[Ticket]:
        """Open tickets whose running clock is due soonest (the overdue first), for the dashboard's SLA clocks."""
        c = t.tickets.c
        stmt = (
            sa.select(t.tickets)
            .where(open_clause(self.dialect), c.next_due.is_not(None))
            .order_by(c.next_due.asc(), c.id.asc())
            .limit(limit)
        )
        with self._read() as conn:
            return [to_ticket(r) for r in conn.execute(stmt)]

    def running_clocks(self) -> int:
        """How many open tickets have a clock running (what `soonest_due` picks its first few from)."""
        c = t.tickets.c
        running = (open_clause(self.dialect), c.next_due.is_not(None))
        stmt = sa.select(sa.func.count()).select_from(t.tickets).where(*running)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def clocks(self, created_from: datetime, created_until: datetime) -> Iterator[Clocks]:
        """Every ticket made in [from, until), merged ones left out (their clock stopped when they were merged),
        streamed in batches."""
        c = t.tickets.c
        columns = (c.id, c.created_at, c.first_response_at, c.resolved_at, c.status, c.queue, c.channel, c.school,
                   c.language, c.category, c.priority)  # fmt: skip
        stmt = (
            sa.select(*columns)
            .where(c.created_at >= created_from, c.created_at < created_until, not_merged(self.dialect))
            .order_by(c.created_at)
        )
        with self._read() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(stmt):
                yield Clocks(*row)

    def raw_clocks(self, created_from: datetime, created_until: datetime) -> list[RawClock]:
        """The tickets made in [from, until), merged ones left out, as (created, first response, resolved, queue)
        exactly as the driver returns them: no conversion, so a reader that keeps what it worked out from each row
        (the dashboard's response times, dashboard/waits.py) converts only rows it has not seen (`utc_time`)."""
        c = t.tickets.c
        columns = [sa.type_coerce(col, sa.String) for col in (c.created_at, c.first_response_at, c.resolved_at)]
        stmt = sa.select(*columns, c.queue).where(
            c.created_at >= created_from, c.created_at < created_until, not_merged(self.dialect)
        )
        with self._read() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]  # all at once: a third less than row by row

    def hourly_counts(
        self, by: str, created_from: datetime, created_until: datetime
    ) -> list[tuple[datetime, str | None, int]]:
        """(the UTC hour, the field's value, tickets made in it) for tickets made in [from, until)."""
        if by not in GROUPABLE:
            raise ValueError(f"cannot count by {by}; fields: {', '.join(GROUPABLE)}")
        c = t.tickets.c
        column = c[by]
        if self.dialect == "sqlite":
            hour: Any = sa.func.substr(c.created_at, 1, 13)
        else:
            hour = sa.func.to_char(sa.func.timezone("UTC", c.created_at), 'YYYY-MM-DD"T"HH24')
        stmt = (
            sa.select(hour.label("hour"), column, sa.func.count())
            .where(c.created_at >= created_from, c.created_at < created_until)
            .group_by(hour, column)
        )
        with self._read() as conn:
            rows = list(conn.execute(stmt))
        return [(datetime.fromisoformat(f"{h}:00:00+00:00"), value, int(n)) for h, value, n in rows]

    def time_spent(self, since: datetime, until: datetime) -> list[TimeSpent]:
        """Every time entry done in [since, until), with the queue of its ticket."""
        e = t.time_entries.c
        stmt = (
            sa.select(e.at, e.person, e.work_type, e.minutes, t.tickets.c.queue)
            .join(t.tickets, t.tickets.c.id == e.ticket_id)
            .where(e.at >= since, e.at < until)
            .order_by(e.at)
        )
        with self._read() as conn:
            return [TimeSpent(_aware(a), p, w, int(m), q) for a, p, w, m, q in conn.execute(stmt)]
