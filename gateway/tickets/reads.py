"""Reading the store: one ticket with everything on it, pages of tickets, the CSV export, the dashboard's counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import (
    StoreBase,
    UnknownTicket,
    now,
    ticket_id,
    to_attachment,
    to_audit,
    to_comment,
    to_status_change,
    to_ticket,
    to_time_entry,
)
from gateway.tickets.query import GROUPABLE, MAX_PER_PAGE, Sort, TicketQuery, order_by
from gateway.tickets.records import AuditEntry, Page, Ticket, TicketDetails
from gateway.tickets.search import found_in, matches_each, matches_listed

# The CSV export's columns, in order: everything on the ticket row a report needs.
CSV_FIELDS = (
    "id", "status", "priority", "queue", "category", "channel", "school", "language", "assignee", "subject",
    "requester_name", "requester_email", "requester_phone", "requester_role", "created_at", "updated_at",
    "first_response_due", "first_response_at", "resolution_due", "resolved_at", "next_due", "tags", "incident_id",
    "parent_id", "merged_into",
)  # fmt: skip
EXPORT_BATCH = 1000
# How many rows a walk along the sort's index reads for the cost of one row sorted (measured at a million tickets,
# page 200 of 75,000 tickets of one school: the walk 4-5 times cheaper).
WALK = 4
# A search whose words are in more tickets (or comments) than this is not counted at every page on SQLite, when the
# list's other filters leave more than FEW_TO_CHECK tickets: counting a word in a tenth of a million tickets means
# gathering all of them (0.5-1 s), where the page alone stops after a few hundred. The page says "more" instead.
COMMON = 10_000
FEW_TO_CHECK = 1_000
# Words in more tickets or comments than this are checked ticket by ticket in the indexes (search.matches_each):
# their lists would cost more to read than the few hundred tickets a page of them walks.
LISTED = 150_000


class TicketReads(StoreBase):
    # When a search is counted on SQLite (see COMMON, FEW_TO_CHECK): a store's own; backends.builtin.
    # search_counted_up_to sets common_words, and a test can draw the lines low.
    common_words = COMMON
    few_to_check = FEW_TO_CHECK
    listed_words = LISTED

    def get(self, ref: str | int) -> Ticket:
        with self._read() as conn:
            row = conn.execute(sa.select(t.tickets).where(t.tickets.c.id == ticket_id(ref))).first()
        if row is None:
            raise UnknownTicket(f"no ticket {ref}")
        return to_ticket(row)

    def details(self, ref: str | int) -> TicketDetails:
        """The ticket, its comments, files, status history and time entries, each in time order."""
        tid = ticket_id(ref)
        with self._read() as conn:
            row = conn.execute(sa.select(t.tickets).where(t.tickets.c.id == tid)).first()
            if row is None:
                raise UnknownTicket(f"no ticket {ref}")

            def rows(table: sa.Table, *order: sa.ColumnElement[Any]) -> list[sa.Row[Any]]:
                return list(conn.execute(sa.select(table).where(table.c.ticket_id == tid).order_by(*order, table.c.id)))

            return TicketDetails(
                ticket=to_ticket(row),
                # By when each was written: a merged ticket's messages join at the times the family sent them.
                comments=[to_comment(r) for r in rows(t.comments, t.comments.c.created_at)],
                attachments=[to_attachment(r) for r in rows(t.attachments)],
                history=[to_status_change(r) for r in rows(t.status_history)],
                time_entries=[to_time_entry(r) for r in rows(t.time_entries)],
            )

    def page(
        self, query: TicketQuery | None = None, *, sort: Sort = "newest", page: int = 1, per_page: int = 50
    ) -> Page[Ticket]:
        """One page of the tickets the query finds (page 1 first) and how many it finds in all."""
        query = query or TicketQuery()
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        page = max(1, page)
        at = now()
        where = query.where(self.dialect, at)
        with self._read() as conn:
            # How common the words are, on SQLite (PostgreSQL gathers and counts every search).
            words = found_in(conn, query.text, self.listed_words) if self.dialect == "sqlite" and query.text else 0
            if words > self.common_words:
                return self._common_words(conn, query, at, sort, page, per_page, listed=words <= self.listed_words)
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t.tickets).where(*where)).scalar_one())
            first = (page - 1) * per_page
            stmt = sa.select(t.tickets).where(*self._in_order(conn, where, total, first + per_page))
            rows = conn.execute(stmt.order_by(*order_by(sort)).limit(per_page).offset(first))
            return Page([to_ticket(r) for r in rows], total, page, per_page)

    def _common_words(
        self,
        conn: sa.Connection,
        query: TicketQuery,
        at: datetime,
        sort: Sort,
        page: int,
        per_page: int,
        *,
        listed: bool,
    ) -> Page[Ticket]:
        """A search for words in too many tickets to gather (SQLite): the list walks its sort's order checking each
        ticket against the words (search.matches_listed, or for the commonest words matches_each), stops at the page
        and is not counted (`more` says whether another page follows). When the other filters leave few tickets,
        SQLite reads those through the filters' indexes, checks each, and the list is counted."""
        first = (page - 1) * per_page
        filters = replace(query, text="").where(self.dialect, at)
        # A family's or an incident's tickets are a handful (where() already lets their own index drive).
        few = bool(query.requester or query.incident_id) or self._at_most(conn, filters, self.few_to_check)
        check = matches_listed(query.text) if listed else matches_each(query.text)
        if few:
            found = int(
                conn.execute(sa.select(sa.func.count()).select_from(t.tickets).where(*filters, check)).scalar_one()
            )
            stmt = sa.select(t.tickets).where(*filters, check).order_by(*order_by(sort)).limit(per_page).offset(first)
            return Page([to_ticket(r) for r in conn.execute(stmt)], found, page, per_page)
        walk = [sa.func.likely(w) for w in (*filters, check)]
        got = list(
            conn.execute(sa.select(t.tickets).where(*walk).order_by(*order_by(sort)).limit(per_page + 1).offset(first))
        )
        more = len(got) > per_page
        # The last page (nothing after it) tells the total after all; a page past the end, only that it is past it.
        known = None if more or (not got and page > 1) else first + len(got)
        return Page([to_ticket(r) for r in got[:per_page]], known, page, per_page, more=more)

    @staticmethod
    def _at_most(conn: sa.Connection, where: list[Any], many: int) -> bool:
        """Whether the conditions find at most `many` tickets (stops counting past it)."""
        found = sa.select(sa.literal(1)).select_from(t.tickets).where(*where).limit(many + 1).subquery()
        return int(conn.execute(sa.select(sa.func.count()).select_from(found)).scalar_one()) <= many

    def _in_order(self, conn: sa.Connection, where: list[Any], found: int, wanted: int) -> list[Any]:
        """The conditions, told to SQLite as likely when walking the sort's own index reads fewer rows than sorting
        every ticket found. SQLite keeps no statistics: it takes any filter's index over the sort's, and sorted the
        95% of a million tickets that "done" or "any" finds to show 50 of them (seconds; bench/desk_queries.py).
        Walking the sort's index reads about `wanted` x (all tickets / found) rows; sorting reads `found`, each
        dearer than a step of a walk (WALK)."""
        if self.dialect != "sqlite" or not where or WALK * found * found <= wanted * self._tickets_made(conn):
            return where
        return [sa.func.likely(w) for w in where]

    @staticmethod
    def _tickets_made(conn: sa.Connection) -> int:
        """How many tickets the table holds, about (the highest number: one step down the primary key)."""
        return int(conn.execute(sa.select(sa.func.max(t.tickets.c.id))).scalar() or 0)

    def search(self, text: str, query: TicketQuery | None = None, *, page: int = 1, per_page: int = 50) -> Page[Ticket]:
        """Full-text search (see search.py) within the query's filters, newest first."""
        base = query or TicketQuery()
        return self.page(TicketQuery(**{**base.__dict__, "text": text}), page=page, per_page=per_page)

    def attachment_holders(self, storage_key: str) -> list[tuple[int, str]]:
        """(ticket, department) of every ticket that kept the file stored as `storage_key` (one file, the same bytes,
        may come with several requests), by ticket number."""
        a, tk = t.attachments.c, t.tickets.c
        stmt = (
            sa.select(tk.id, tk.queue)
            .select_from(t.attachments.join(t.tickets, a.ticket_id == tk.id))
            .where(a.storage_key == storage_key, a.kept)
            .distinct()
            .order_by(tk.id)
        )
        with self._read() as conn:
            return [(int(r[0]), str(r[1])) for r in conn.execute(stmt)]

    def count(self, query: TicketQuery | None = None) -> int:
        where = (query or TicketQuery()).where(self.dialect, now())
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.tickets).where(*where)).scalar_one())

    def counts(self, by: tuple[str, ...], query: TicketQuery | None = None) -> dict[tuple[Any, ...], int]:
        """How many tickets per value of each field in `by` (e.g. status and queue), within the query."""
        unknown = [f for f in by if f not in GROUPABLE]
        if unknown or not by:
            raise ValueError(f"cannot count by {unknown or by}; fields: {', '.join(GROUPABLE)}")
        columns = [t.tickets.c[f] for f in by]
        where = (query or TicketQuery()).where(self.dialect, now())
        grouping: list[Any] = columns
        if self.dialect == "sqlite" and query is not None and (query.created_from or query.created_until):
            # "Today", "the last hour": SQLite keeps no statistics on how narrow a time range is, and would rather
            # read a whole index in the grouping's order than the range's own; `+column` takes that choice away.
            grouping = [sa.literal_column(f"+tickets.{f}") for f in by]
        stmt = sa.select(*columns, sa.func.count()).where(*where).group_by(*grouping)
        with self._read() as conn:
            return {tuple(r[:-1]): int(r[-1]) for r in conn.execute(stmt)}

    def export(self, query: TicketQuery | None = None, *, sort: Sort = "newest") -> Iterator[Ticket]:
        """Every ticket the query finds, streamed from the database a batch at a time (no limit, little memory)."""
        where = (query or TicketQuery()).where(self.dialect, now())
        stmt = sa.select(t.tickets).where(*where).order_by(*order_by(sort))
        with self._read() as conn:
            result = conn.execution_options(stream_results=True, yield_per=EXPORT_BATCH).execute(stmt)
            for row in result:
                yield to_ticket(row)

    def export_csv(
        self, query: TicketQuery | None = None, *, sort: Sort = "newest", zone: tzinfo | None = None
    ) -> Iterator[str]:
        """The export as CSV text, a header line and then a chunk per batch of tickets; times in `zone` if given."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        for n, ticket in enumerate(self.export(query, sort=sort), 1):
            row = ticket.as_dict(zone)
            writer.writerow([" ".join(v) if isinstance(v := row[f], list) else v for f in CSV_FIELDS])
            if n % EXPORT_BATCH == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def audit_log(
        self, *, ref: str | int | None = None, actor: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Who did what, newest first: to one ticket, by one person, or everything since a time."""
        a = t.audit_log.c
        stmt = sa.select(t.audit_log).order_by(a.id.desc()).limit(limit)
        if ref is not None:
            stmt = stmt.where(a.ticket_id == ticket_id(ref))
        if actor is not None:
            stmt = stmt.where(a.actor == actor)
        if since is not None:
            stmt = stmt.where(a.at >= since)
        with self._read() as conn:
            return [to_audit(r) for r in conn.execute(stmt)]

    def time_totals(
        self, by: tuple[str, ...] = ("work_type",), *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[tuple[Any, ...], int]:
        """Minutes logged per work type and/or person (`by`), optionally between two times (until exclusive)."""
        if not by or any(f not in ("work_type", "person") for f in by):
            raise ValueError("time is totalled by work_type and/or person")
        e = t.time_entries.c
        columns = [e[f] for f in by]
        stmt = sa.select(*columns, sa.func.sum(e.minutes)).group_by(*columns)
        if since is not None:
            stmt = stmt.where(e.at >= since)
        if until is not None:
            stmt = stmt.where(e.at < until)
        with self._read() as conn:
            return {tuple(r[:-1]): int(r[-1]) for r in conn.execute(stmt)}
