"""Bringing a database to the newest schema when a process opens it: automatically, once, one process at a time.

Every process that opens the store (a worker, the web process, an `intake tickets` command) reads the
database's revision; when it is behind, it takes the engine's lock (SQLite: the write lock, by BEGIN
IMMEDIATE; PostgreSQL: a transaction-level advisory lock), reads it again, and runs every missing revision in
that one transaction. A second process starting at the same moment waits for the lock, finds the database
current, and goes on. A revision that fails rolls back with all the others: the database stays as it was.

Alembic is imported only when there is something to migrate: a command that finds the database current
(nearly always) does not pay for it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from gateway.tickets.engine import WRITE_OPTION

log = logging.getLogger("intake.tickets")

LOCATION = str(Path(__file__).with_name("migrations"))
# The newest revision in migrations/versions/ (a test checks that it is): update it with every new revision.
HEAD = "r0006"
# pg_advisory_xact_lock's key: any constant the gateway's database uses for nothing else.
LOCK_KEY = 0x1A7A4E


def head() -> str:
    """The newest revision, as Alembic reads it from the scripts."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", LOCATION)
    revision = ScriptDirectory.from_config(cfg).get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection) -> str | None:
    """The revision the database is at; None for an empty database or one the first release made."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine) -> bool:
    """Bring the database to the newest revision. True when this call migrated it."""
    with engine.connect() as conn:
        if current(conn) == HEAD:
            return False
    from alembic import command
    from alembic.config import Config

    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        before = current(conn)
        if before == HEAD:
            return False  # another process migrated it while this one waited for the lock
        cfg = Config()
        cfg.set_main_option("script_location", LOCATION)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("ticket store migrated", extra={"from_revision": before or "none", "to_revision": HEAD})
    return True
