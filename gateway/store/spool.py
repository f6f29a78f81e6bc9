"""The local spool: where a message waits, durably, while Redis is unreachable.

SQLite in WAL mode with synchronous=FULL, so a row is on disk before the provider gets its 2xx.
Keyed by fingerprint, so a provider's retry while Redis is down does not spool twice. The drainer
replays rows through the same commit, which dedupes, and deletes them only after that commit.

Every spooled message keeps its thread evidence (the message itself) and is threaded again when it
drains, in the order it came, so that it sees everything committed before it, the spooled messages
ahead of it included. One that only counts when it continues a conversation (a Slack thread reply, an
out-of-office note) is dropped then if it does not, counted under the reason it carries.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.models import Commitment
from gateway.store.commit import CommitResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    spooled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    threaded_only TEXT NOT NULL DEFAULT ''
);
"""
# Columns added since the first release: a spool written by an older one gains them with their defaults.
ADDED = {"threaded_only": "TEXT NOT NULL DEFAULT ''"}


@dataclass(frozen=True, slots=True)
class Submission:
    """A message handed to the commit."""

    commitment: Commitment
    # Not empty: commit it only if it continues a conversation; otherwise count it ignored for this reason.
    threaded_only: str = ""


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(spool)")}
        for column, decl in ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE spool ADD COLUMN {column} {decl}")
        self._depth = self._count()

    def _count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM spool").fetchone()
        return int(row[0])

    @property
    def depth(self) -> int:
        return self._depth

    def put(self, batch: Sequence[Submission]) -> list[CommitResult]:
        """Store durably; a fingerprint already spooled answers with the request id it was given."""
        results = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for s in batch:
                    c = s.commitment
                    row = self._db.execute(
                        "SELECT request_id FROM spool WHERE fingerprint = ?", (c.fingerprint,)
                    ).fetchone()
                    if row:
                        results.append(CommitResult(row[0], duplicate=True, spooled=True))
                        continue
                    self._db.execute(
                        "INSERT INTO spool (fingerprint, request_id, payload, threaded_only) VALUES (?, ?, ?, ?)",
                        (c.fingerprint, c.message.id, c.model_dump_json(), s.threaded_only),
                    )
                    results.append(CommitResult(c.message.id, duplicate=False, spooled=True))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth = self._count()
        return results

    def take(self, limit: int) -> list[tuple[int, Submission]]:
        """The oldest `limit` rows, in the order they were spooled."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload, threaded_only FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, Submission(Commitment.model_validate_json(p), t)) for seq, p, t in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])
            self._depth = self._count()

    def close(self) -> None:
        with self._lock:
            self._db.close()
