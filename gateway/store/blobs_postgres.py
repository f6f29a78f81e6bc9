"""Blobs in the built-in store's PostgreSQL (`blobs.store: postgres`): every host reads what any host took.

One row per distinct file, named by its sha256 (the `blobs` table, gateway/tickets/schema.py). A file is kept
by its own committed transaction before `put` returns, so it is durable before the message naming it is
committed to Redis, as the file store's fsync makes it; `sync` has nothing left to do. An upload is streamed to
a temporary file on local disk first (never held whole in memory while it arrives), then written in one
statement: files are at most `blobs.max_bytes`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gateway.models import Attachment
from gateway.store.blobs import BlobMissing, BlobWriter, describe_bytes
from gateway.tickets.schema import blobs as table

_READ = "SELECT data FROM blobs WHERE sha256 = %s"


class PostgresBlobStore:
    def __init__(self, engine: sa.Engine, incoming: Path, max_bytes: int) -> None:
        """`incoming`: a local directory for uploads still arriving (data_dir/blobs/.incoming)."""
        self.engine, self.incoming, self.max_bytes = engine, incoming, max_bytes

    def put(self, data: bytes, filename: str) -> Attachment:
        described = describe_bytes(data, filename, self.max_bytes)
        if described.kept:
            self._keep(described.sha256, data)
        return described

    def _keep(self, digest: str, data: bytes) -> None:
        # The same bytes from another message, or another host at the same moment: the row is already theirs.
        row = {"sha256": digest, "size": len(data), "data": data, "created_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            conn.execute(insert(table).values(row).on_conflict_do_nothing(index_elements=["sha256"]))

    def get(self, key: str) -> bytes:
        # In binary: psycopg's default text format sends bytea as hex, and decoding it took 4 MiB reads from about
        # 35 ms to 150 ms (bench/blob_stores.py).
        with self.engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            with driver.cursor(binary=True) as cursor:
                cursor.execute(_READ, (key,))
                row = cursor.fetchone()
        if row is None:
            raise BlobMissing(key)
        return bytes(row[0])

    def delete(self, key: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(table).where(table.c.sha256 == key)).rowcount

    def writer(self, filename: str, limit: int) -> BlobWriter:
        return BlobWriter(self.incoming, self._adopt, filename, limit, self.max_bytes)

    def _adopt(self, tmp: Path, digest: str) -> None:
        try:
            self._keep(digest, tmp.read_bytes())
        finally:
            tmp.unlink(missing_ok=True)

    def sync(self) -> int:
        return 0

    def unsynced(self) -> list[str]:
        return []  # each put is its own committed transaction
