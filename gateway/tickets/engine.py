"""Connecting to the store: SQLite (the default, a file under data_dir) or PostgreSQL (`DATABASE_URL`).

SQLite runs as the first release did: WAL, synchronous=FULL (a committed ticket survives a power cut),
a busy timeout instead of "database is locked", and every write transaction begun IMMEDIATE so two
workers never deadlock upgrading a read lock. Foreign keys are enforced on both engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from gateway.tickets.search import WORDS_IN, words_in

# Set on the engine that writes: its transactions take SQLite's write lock at BEGIN.
WRITE_OPTION = "intake_write"


class StoreUrlError(ValueError):
    """A database URL the store cannot use; the message says what would work."""


def sqlite_url(path: Path) -> str:
    return str(URL.create("sqlite+pysqlite", database=str(path)))


def normalize_url(url: str) -> URL:
    """`postgres://` and `postgresql://` (as operators and hosting providers write them) use psycopg 3."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise StoreUrlError("expected a URL such as postgresql://user:password@host:5432/intake") from None
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise StoreUrlError("a SQLite URL needs a file: sqlite:////var/lib/intake/tickets.sqlite3")
        return parsed.set(drivername="sqlite+pysqlite")
    raise StoreUrlError(f"unsupported database {parsed.drivername!r}: use postgresql://... or sqlite:///PATH")


def make_engine(url: str, busy_timeout_ms: int = 5000) -> Engine:
    """An engine for the store. Its errors never carry a statement's values (a family's words, their address)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, hide_parameters=True, connect_args={"timeout": busy_timeout_ms / 1000})
        _sqlite_pragmas(engine, busy_timeout_ms)
        return engine
    # pre_ping: a pooled connection the server dropped (a restart, a failover) is replaced, not handed out.
    return sa.create_engine(
        parsed, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=5,
        connect_args={"connect_timeout": 10},
    )  # fmt: skip


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # A search for very common words reads each ticket it walks past with this (search.matches_each).
        dbapi_connection.create_function(WORDS_IN, -1, words_in, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")
