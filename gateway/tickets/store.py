"""The built-in ticket store: one object for the worker, the desk, the dashboard and `intake tickets`.

`TicketStore.from_settings(settings)` opens the configured database (SQLite under data_dir by default,
PostgreSQL with `DATABASE_URL` or `backends.builtin.database_url`) and brings its schema up to date first.
Keep one per process: it holds the connection pool.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from gateway.settings import Settings
from gateway.tickets import migrate
from gateway.tickets.audit import AuditLog
from gateway.tickets.desk import DeskActions
from gateway.tickets.engine import make_engine, sqlite_url
from gateway.tickets.reads import TicketReads
from gateway.tickets.stats import TicketStats
from gateway.tickets.users import UserRepository


def store_url(settings: Settings) -> str:
    conf = settings.backends.builtin
    if conf.database_url.get_secret_value():
        return conf.database_url.get_secret_value()
    return sqlite_url(Path(conf.path) if conf.path else settings.path_in_data("tickets.sqlite3"))


class TicketStore(DeskActions, TicketReads, TicketStats):
    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.users = UserRepository(engine)
        self.audit = AuditLog(engine)

    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int = 5000, upgrade: bool = True) -> TicketStore:
        """Connect, and (unless told not to) bring the database to the newest schema, one process at a time."""
        engine = make_engine(url, busy_timeout_ms)
        if upgrade:
            migrate.upgrade(engine)
        return cls(engine)

    @classmethod
    def from_settings(cls, settings: Settings, *, upgrade: bool = True) -> TicketStore:
        conf = settings.backends.builtin
        store = cls.open(store_url(settings), busy_timeout_ms=conf.busy_timeout_ms, upgrade=upgrade)
        store.common_words = conf.search_counted_up_to
        store.few_to_check = min(store.few_to_check, conf.search_counted_up_to)  # a line below it holds for both
        return store

    def revision(self) -> str | None:
        """The schema revision the database is at (None: an empty database)."""
        with self._read() as conn:
            return migrate.current(conn)

    def close(self) -> None:
        """Close every pooled connection (a test, a command that is done)."""
        self.engine.dispose()
