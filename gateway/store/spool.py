"""The local spool: where a message waits, durably, while Redis is unreachable.

SQLite in WAL mode with synchronous=FULL, so a row is on disk before the provider gets its 2xx.
Keyed by fingerprint, so a provider's retry while Redis is down does not spool twice. The drainer
replays rows through the same commit, which dedupes, and deletes them only after that commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from gateway.models import Commitment
from gateway.store.commit import CommitResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    spooled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(SCHEMA)
        self._depth = self._count()

    def _count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM spool").fetchone()
        return int(row[0])

    @property
    def depth(self) -> int:
        return self._depth

    def put(self, batch: Sequence[Commitment]) -> list[CommitResult]:
        """Store durably; a fingerprint already spooled answers with the request id it was given."""
        results = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for c in batch:
                    row = self._db.execute(
                        "SELECT request_id FROM spool WHERE fingerprint = ?", (c.fingerprint,)
                    ).fetchone()
                    if row:
                        results.append(CommitResult(row[0], duplicate=True, spooled=True))
                        continue
                    self._db.execute(
                        "INSERT INTO spool (fingerprint, request_id, payload) VALUES (?, ?, ?)",
                        (c.fingerprint, c.message.id, c.model_dump_json()),
                    )
                    results.append(CommitResult(c.message.id, duplicate=False, spooled=True))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth = self._count()
        return results

    def lookup(self, fingerprints: Sequence[str]) -> dict[str, str]:
        if not self._depth or not fingerprints:
            return {}
        with self._lock:
            marks = ",".join("?" * len(fingerprints))
            rows = self._db.execute(
                f"SELECT fingerprint, request_id FROM spool WHERE fingerprint IN ({marks})",  # noqa: S608
                list(fingerprints),
            ).fetchall()
        return {fp: rid for fp, rid in rows}

    def take(self, limit: int) -> list[tuple[int, Commitment]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, payload FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(seq, Commitment.model_validate_json(payload)) for seq, payload in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])
            self._depth = self._count()

    def close(self) -> None:
        with self._lock:
            self._db.close()
