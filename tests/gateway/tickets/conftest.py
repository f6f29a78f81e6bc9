"""The store's tests run twice: on SQLite (a file in the test's directory) and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.tickets import NewAttachment, NewTicket, TicketStore
from gateway.tickets.engine import sqlite_url
from tests.support.postgres import PostgresServer

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "tickets.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def store(store_url: str) -> Iterator[TicketStore]:
    opened = TicketStore.open(store_url)
    yield opened
    opened.close()


def ticket(n: int = 1, **fields: object) -> NewTicket:
    """A ticket as the worker would make it, numbered so that each test's tickets differ."""
    base: dict[str, object] = {
        "conversation": f"conv-{n}",
        "subject": f"Bus {n} did not come",
        "body": "The 7:10 bus to Lincoln did not come this morning.",
        "channel": "sms",
        "queue": "transportation",
        "language": "en",
        "school": "lhs",
        "requester_name": "Ana Pérez",
        "requester_email": "ana.perez@example.org",
        "requester_phone": "+15550100001",
    }
    base.update(fields)
    return NewTicket(**base)  # type: ignore[arg-type]


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2027, 2, day, hour, minute, tzinfo=UTC)


PHOTO = NewAttachment(filename="stop.png", content_type="image/png", size=72, sha256="ab" * 32, storage_key="k1")


@pytest.fixture
def make(store: TicketStore) -> Callable[..., int]:
    counter = iter(range(1, 10_000))

    def _make(**fields: object) -> int:
        n = next(counter)
        return store.create_ticket(ticket(n, **fields), idempotency_key=f"req-{n}")

    return _make
