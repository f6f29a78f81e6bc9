"""A gateway with desk staff (an administrator, an IT agent, a transportation agent) on a real Redis and a real
store, and tickets made in that store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from gateway.tickets import NewTicket, TicketStore
from tests.gateway.web.staff.conftest import MovingClock, StaffGateway, start, stop
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff

_keys = count(1)


def make_ticket(store: TicketStore, **fields: Any) -> int:
    """A ticket as the worker makes one; fields override a bus complaint from a parent by SMS, to IT."""
    values: dict[str, Any] = {
        "conversation": f"conv-{next(_keys)}", "subject": "Chromebook will not charge",
        "body": "My son's school laptop does not charge since Monday.", "channel": "sms", "queue": "it",
        "requester_name": "Lan Nguyen", "requester_phone": "+15552013344", "language": "vi", "school": "lhs",
    }  # fmt: skip
    values.update(fields)
    return store.create_ticket(NewTicket(**values), idempotency_key=f"test-{next(_keys)}")


def desk_config(tmp_path: Path, redis_url: str, **extra: Any) -> Path:
    return write_config(tmp_path, redis_url, timezone="America/Chicago", **extra)


def add_desk_staff(settings: Settings) -> None:
    add_staff(settings, "ana", "admin", name="Ana Admin")
    add_staff(settings, "abby", "agent", name="Abby Agent", departments=["it"])
    add_staff(settings, "tom", "agent", name="Tom Transport", departments=["transportation"])


@pytest.fixture
def desk_config_path(tmp_path: Path, redis_server: RedisServer) -> Path:
    config = desk_config(tmp_path, redis_server.url)
    add_desk_staff(settings_from(config))
    return config


@pytest.fixture
def store(desk_config_path: Path) -> Iterator[TicketStore]:
    opened = TicketStore.from_settings(settings_from(desk_config_path))
    yield opened
    opened.close()


@pytest.fixture
async def desk(desk_config_path: Path) -> AsyncIterator[StaffGateway]:
    gw = await start(desk_config_path, MovingClock())
    yield gw
    await stop(gw)
