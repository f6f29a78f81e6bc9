"""The built-in ticket store (SQLite): so a new install works with no help desk at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.models import Commitment, StatusEvent, TicketStatus
from gateway.settings import Settings
from workers.backends.base import BaseBackend, Forgotten

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    conversation TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT,
    queue TEXT NOT NULL,
    priority TEXT NOT NULL,
    school TEXT,
    language TEXT NOT NULL,
    requester_name TEXT NOT NULL DEFAULT '',
    requester_email TEXT,
    requester_phone TEXT,
    requester_role TEXT NOT NULL DEFAULT 'unknown',
    requester_directory_id TEXT,
    parent_id INTEGER REFERENCES tickets(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    idempotency_key TEXT UNIQUE,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    status TEXT NOT NULL,
    comment TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    storage_key TEXT,
    kept INTEGER NOT NULL,
    reason TEXT
);
"""

# Columns added after the first release: (table, name, type). Added to an existing database on open.
MIGRATIONS = (
    ("tickets", "requester_role", "TEXT NOT NULL DEFAULT 'unknown'"),
    ("tickets", "requester_directory_id", "TEXT"),
    ("tickets", "assignee", "TEXT"),
    ("tickets", "first_response_due", "TEXT"),
    ("tickets", "resolution_due", "TEXT"),
    ("tickets", "tags", "TEXT NOT NULL DEFAULT ''"),
    ("tickets", "rule_ids", "TEXT NOT NULL DEFAULT ''"),
    ("status_history", "idempotency_key", "TEXT"),
)
# Built after the migrations, so that an old database has their columns first.
INDEXES = "CREATE UNIQUE INDEX IF NOT EXISTS status_history_key ON status_history (idempotency_key);"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@dataclass(frozen=True)
class Ticket:
    id: int
    status: str
    subject: str
    body: str
    channel: str
    category: str | None
    queue: str
    priority: str
    school: str | None
    language: str
    requester_name: str
    requester_email: str | None
    requester_phone: str | None
    conversation: str
    created_at: str
    updated_at: str
    requester_role: str = "unknown"
    requester_directory_id: str | None = None
    assignee: str | None = None
    first_response_due: str | None = None
    resolution_due: str | None = None
    tags: str = ""
    rule_ids: str = ""


class UnknownTicket(LookupError):
    pass


class BuiltinBackend(BaseBackend):
    """The first plug-in: tickets in SQLite, worked with `intake tickets`; nothing comes back from outside."""

    name = "builtin"

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        # Checked again inside the write lock: two processes opening an old database add each column once.
        with self._tx() as db:
            for table in sorted({table for table, _, _ in MIGRATIONS}):
                have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in ((n, k) for t, n, k in MIGRATIONS if t == table and n not in have):
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            db.execute(INDEXES)

    @classmethod
    def from_settings(cls, settings: Settings) -> BuiltinBackend:
        conf = settings.backends.builtin
        path = Path(conf.path) if conf.path else settings.path_in_data("tickets.sqlite3")
        return cls(path, conf.busy_timeout_ms)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            yield db
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        m, route = commitment.message, commitment.route
        with self._tx() as db:
            row = db.execute("SELECT id FROM tickets WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
            if row:
                return str(row["id"])
            at = _now()
            cur = db.execute(
                """INSERT INTO tickets (idempotency_key, conversation, subject, body, channel, category, queue,
                   priority, school, language, requester_name, requester_email, requester_phone, requester_role,
                   requester_directory_id, created_at, updated_at, assignee, first_response_due, resolution_due, tags,
                   rule_ids)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    idempotency_key, commitment.conversation, m.subject or m.text[:80], m.text, m.channel,
                    route.category, route.queue, route.priority.value, m.campus, m.language,
                    m.requester.display_name, m.requester.email, m.requester.phone, m.requester.role,
                    m.requester.directory_id, at, at, route.assignee,
                    _iso(route.first_response_due), _iso(route.resolution_due), " ".join(route.tags),
                    " ".join(route.rule_ids),
                ),
            )  # fmt: skip
            ticket_id = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO status_history (ticket_id, status, comment, actor, at) VALUES (?, 'new', NULL, ?, ?)",
                (ticket_id, "intake", at),
            )
            self._attach(db, ticket_id, commitment)
        return str(ticket_id)

    def _attach(self, db: sqlite3.Connection, ticket_id: int, commitment: Commitment) -> None:
        db.executemany(
            """INSERT INTO attachments (ticket_id, filename, content_type, size, sha256, storage_key, kept, reason)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (ticket_id, a.filename, a.content_type, a.size, a.sha256, a.storage_key, int(a.kept), a.reason)
                for a in commitment.message.attachments
            ],
        )

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        m = commitment.message
        with self._tx() as db:
            row = db.execute("SELECT id FROM comments WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
            if row:
                return str(row["id"])
            self._require(db, ref)
            at = _now()
            author = m.requester.display_name or "requester"
            cur = db.execute(
                "INSERT INTO comments (ticket_id, idempotency_key, author, body, public, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (int(ref), idempotency_key, author, m.text, int(public), at),
            )
            db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (at, int(ref)))
            self._attach(db, int(ref), commitment)
            return str(cur.lastrowid)

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        with self._tx() as db:
            self._require(db, parent_ref)
            self._require(db, child_ref)
            db.execute("UPDATE tickets SET parent_id = ? WHERE id = ?", (int(parent_ref), int(child_ref)))

    def fetch_status(self, ref: str) -> TicketStatus:
        return TicketStatus(self.get(ref).status)

    def _require(self, db: sqlite3.Connection, ref: str) -> None:
        if not ref.isdigit() or not db.execute("SELECT 1 FROM tickets WHERE id = ?", (int(ref),)).fetchone():
            raise UnknownTicket(f"no ticket {ref}")

    # The operators' side of the built-in store (the `intake tickets` commands).

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        self.update_status(ref, status, comment, actor, idempotency_key=idempotency_key)

    def update_status(
        self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str | None = None
    ) -> StatusEvent:
        at = datetime.now(UTC)
        with self._tx() as db:
            self._require(db, ref)
            if idempotency_key is not None:
                seen = db.execute(
                    "SELECT at FROM status_history WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if seen:  # a retried change: the history and comments are not written twice
                    return StatusEvent(backend=self.name, ticket_ref=ref, status=status, public_comment=comment,
                                       actor=actor, at=datetime.fromisoformat(seen["at"]))  # fmt: skip
            db.execute(
                "UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?", (status.value, at.isoformat(), int(ref))
            )
            db.execute(
                "INSERT INTO status_history (ticket_id, status, comment, actor, at, idempotency_key)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (int(ref), status.value, comment, actor, at.isoformat(), idempotency_key),
            )
            if comment:
                db.execute(
                    "INSERT INTO comments (ticket_id, author, body, public, created_at) VALUES (?, ?, ?, 1, ?)",
                    (int(ref), actor, comment, at.isoformat()),
                )
        return StatusEvent(backend=self.name, ticket_ref=ref, status=status, public_comment=comment, actor=actor, at=at)

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        """Move a response clock's due time (a closure was declared after the ticket was made)."""
        column = {"first_response": "first_response_due", "resolution": "resolution_due"}[kind]
        with self._tx() as db:
            self._require(db, ref)
            db.execute(f"UPDATE tickets SET {column} = ? WHERE id = ?", (due.isoformat(), int(ref)))  # noqa: S608

    def get(self, ref: str) -> Ticket:
        with self._db() as db:
            self._require(db, ref)
            row = db.execute("SELECT * FROM tickets WHERE id = ?", (int(ref),)).fetchone()
        fields = {k: row[k] for k in Ticket.__dataclass_fields__}
        return Ticket(**fields)

    def list(self, status: str | None = None, limit: int = 100) -> list[Ticket]:
        where = " WHERE status = ?" if status else ""
        sql = f"SELECT * FROM tickets{where} ORDER BY id DESC LIMIT ?"  # noqa: S608 (constant fragments)
        args: tuple[Any, ...] = (status, limit) if status else (limit,)
        with self._db() as db:
            rows = db.execute(sql, args).fetchall()
        return [Ticket(**{k: r[k] for k in Ticket.__dataclass_fields__}) for r in rows]

    def details(self, ref: str) -> dict[str, Any]:
        """Everything about one ticket: the ticket, its comments, attachments and status history."""
        ticket = self.get(ref)
        with self._db() as db:
            comments = [
                dict(r) for r in db.execute("SELECT * FROM comments WHERE ticket_id = ? ORDER BY id", (int(ref),))
            ]
            history = [
                dict(r) for r in db.execute("SELECT * FROM status_history WHERE ticket_id = ? ORDER BY id", (int(ref),))
            ]
            files = [
                dict(r) for r in db.execute("SELECT * FROM attachments WHERE ticket_id = ? ORDER BY id", (int(ref),))
            ]
        return {"ticket": ticket.__dict__, "comments": comments, "history": history, "attachments": files}

    def forget_requester(self, emails: Sequence[str], phones: Sequence[str], conversations: Sequence[str]) -> Forgotten:
        """Delete their tickets and everything on them; the files no other ticket uses are returned for removal."""
        emails = [e.lower() for e in emails]
        values_by_column = (("lower(requester_email)", emails), ("requester_phone", list(phones)),
                            ("conversation", list(conversations)))  # fmt: skip
        with self._tx() as db:
            db.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed: the text is gone from the file too
            clauses, args = [], []
            for column, values in values_by_column:
                if values:
                    clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                    args += values
            if not clauses:
                return Forgotten()
            where = " OR ".join(clauses)
            ids = [row["id"] for row in db.execute(f"SELECT id FROM tickets WHERE {where}", args)]  # noqa: S608
            if not ids:
                return Forgotten()
            marks = ",".join("?" * len(ids))
            stored = {
                row["storage_key"]
                for row in db.execute(
                    f"SELECT storage_key FROM attachments WHERE ticket_id IN ({marks}) AND storage_key IS NOT NULL",  # noqa: S608
                    ids,
                )
            }
            for table in ("comments", "status_history", "attachments"):
                db.execute(f"DELETE FROM {table} WHERE ticket_id IN ({marks})", ids)  # noqa: S608
            db.execute(f"UPDATE tickets SET parent_id = NULL WHERE parent_id IN ({marks})", ids)  # noqa: S608
            db.execute(f"DELETE FROM tickets WHERE id IN ({marks})", ids)  # noqa: S608
            still = {
                row["storage_key"]
                for row in db.execute("SELECT DISTINCT storage_key FROM attachments WHERE storage_key IS NOT NULL")
            }
        return Forgotten(len(ids), tuple(sorted(stored - still)))

    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM tickets").fetchone()[0])
