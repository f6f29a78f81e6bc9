"""Migrations: a new database and one the first release made both end up exactly as the code expects."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.tickets import NewComment, TicketQuery, TicketStore, migrate, schema
from gateway.tickets.engine import sqlite_url
from tests.gateway.tickets.conftest import ticket
from tests.support.gateway import REPO

FIRST_RELEASE = REPO / "tests" / "payloads" / "tickets" / "first-release.sqlite3"


def differences(store: TicketStore) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the code's tables."""

    def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        # Search lives beside the model: FTS5 tables and their shadow tables, PostgreSQL's generated columns.
        # Indexes on expressions too (SQLite's reflection cannot read them).
        return not ((name or "").startswith(("tickets_fts", "comments_fts", "sqlite_", "ix_tickets_open_"))
                    or name in ("search_vector", "ix_tickets_priority", "ix_tickets_requester_email_lower")
                    or (name or "").endswith("_search"))  # fmt: skip

    def rowid(diff: Any) -> bool:
        # The first release wrote `id INTEGER PRIMARY KEY` without NOT NULL; in SQLite that is the rowid, never null.
        return isinstance(diff, list) and all(d[0] == "modify_nullable" and d[3] == "id" for d in diff)

    with store.engine.connect() as conn, warnings.catch_warnings():
        # SQLite's reflection skips (and warns about) the partial expression indexes of the desk's open tickets.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": False})
        diffs = list(compare_metadata(context, schema.metadata))
    return [d for d in diffs if not (store.dialect == "sqlite" and rowid(d))]


def test_a_new_database_is_made_at_the_newest_revision_exactly_as_the_code_expects(store: TicketStore) -> None:
    assert store.revision() == migrate.head() == migrate.HEAD
    assert differences(store) == []


def test_two_processes_starting_together_migrate_once_and_both_start(store_url: str) -> None:
    code = (
        "import sys; from gateway.tickets import TicketStore, migrate; from gateway.tickets.engine import make_engine;"
        "print(migrate.upgrade(make_engine(sys.argv[1], 30000)))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, store_url], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-1500:] for _, err in outcomes]
    assert sorted(out.strip() for out, _ in outcomes) == ["False", "False", "True"]
    store = TicketStore.open(store_url)
    assert store.revision() == migrate.head() and store.create_ticket(ticket(), "k") == 1
    store.close()


def test_a_database_the_first_release_made_is_upgraded_in_place_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "tickets.sqlite3"
    shutil.copy(FIRST_RELEASE, path)
    before = sqlite3.connect(path)
    counts = {t: before.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
              for t in ("tickets", "comments", "status_history", "attachments")}  # fmt: skip
    old_first = before.execute(
        "SELECT subject, body, created_at, first_response_due FROM tickets WHERE id = 1"
    ).fetchone()
    before.close()

    store = TicketStore.open(sqlite_url(path))
    assert store.revision() == migrate.head()
    assert differences(store) == []
    assert store.count() == counts["tickets"] == 30
    one = store.details(1)
    assert (one.ticket.subject, one.ticket.body) == old_first[:2]
    assert one.ticket.created_at == datetime.fromisoformat(old_first[2])
    assert one.ticket.first_response_due == datetime.fromisoformat(old_first[3]) == one.ticket.next_due
    assert sum(len(store.details(i).comments) for i in range(1, 31)) == counts["comments"]
    assert sum(len(store.details(i).history) for i in range(1, 31)) == counts["status_history"]
    assert sum(len(store.details(i).attachments) for i in range(1, 31)) == counts["attachments"]
    # What the first release knew, carried into the new columns.
    assert store.get(3).status == "resolved" and store.get(3).resolved_at is not None and store.get(3).next_due is None
    assert store.get(2).first_response_at is not None  # moved to in progress: the first response was given
    assert store.get(3).priority == "urgent" and [t.id for t in store.page(sort="priority", per_page=1).items] == [3]
    assert store.get(6).parent_id == 1 and store.get(3).rule_ids == ("urgent-words",)
    assert {c.author_kind for c in store.details(5).comments} == {"system"}
    assert {c.author_kind for c in store.details(2).comments} == {"staff"}
    # Search indexes the old text; the store goes on numbering after the old tickets; a retried change is still one.
    assert [t.id for t in store.search("CAIDO autobus").items][-1] == 2
    assert store.page(TicketQuery(text="still waiting")).total == 10
    assert store.create_ticket(ticket(99), "new-after-upgrade") == 31
    again = store.set_status(3, "resolved", "Fixed.", "maria", idempotency_key="incident-1-update-2")
    assert again.at == store.details(3).history[-1].at
    store.add_comment(1, NewComment(body="after the upgrade", author="Ana"), idempotency_key="01OLDC0000")
    assert len(store.details(1).comments) == 1  # the first release's key for this follow-up still holds
    store.close()
    assert TicketStore.open(sqlite_url(path)).revision() == migrate.head()  # opening again changes nothing


def test_an_older_database_without_the_first_releases_later_columns_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "tickets.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
        conversation TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'new', subject TEXT NOT NULL, body TEXT NOT NULL,
        channel TEXT NOT NULL, category TEXT, queue TEXT NOT NULL, priority TEXT NOT NULL, school TEXT,
        language TEXT NOT NULL, requester_name TEXT NOT NULL DEFAULT '', requester_email TEXT, requester_phone TEXT,
        parent_id INTEGER REFERENCES tickets(id), created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
        INSERT INTO tickets (idempotency_key, conversation, subject, body, channel, queue, priority, language,
        created_at, updated_at)
        VALUES ('k', 'c', 'Old', 'An old ticket', 'email', 'general', 'normal', 'en',
        '2026-05-01T10:00:00+00:00', '2026-05-01T10:00:00.500000+00:00');"""
    )
    db.close()
    store = TicketStore.open(sqlite_url(path))
    old = store.get(1)
    assert (old.subject, old.assignee, old.first_response_due, old.rule_ids) == ("Old", None, None, ())
    assert old.created_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert differences(store) == []
    with store.engine.connect() as conn:  # the fixed-width form, so that text order is time order
        raw = conn.execute(sa.text("SELECT created_at, updated_at FROM tickets")).one()
    assert tuple(raw) == ("2026-05-01T10:00:00.000000+00:00", "2026-05-01T10:00:00.500000+00:00")
    store.close()
