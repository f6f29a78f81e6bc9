"""A gateway with staff accounts, on a real Redis and a real store, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.server.app import create_app
from gateway.settings import Settings
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, browser_session

# Low enough that a test reaches a lock in a few tries.
LOCKOUT = {"account_attempts": 3, "client_attempts": 10, "lock_s": 60, "max_lock_s": 600, "forget_s": 3600}


class MovingClock:
    """A clock that stands still until the test moves it (sessions and locks read it; nothing sleeps)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class StaffGateway:
    server: TestServer
    settings: Settings
    config: Path
    clock: MovingClock
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    def browser(self) -> aiohttp.ClientSession:
        """A new browser: its own cookies."""
        client = browser_session()
        self.clients.append(client)
        return client


def staff_config(tmp_path: Path, redis_url: str, **overrides: Any) -> Path:
    signin = {"lockout": LOCKOUT, **overrides.pop("signin", {})}
    return write_config(tmp_path, redis_url, signin=signin, **overrides)


async def start(
    config: Path, clock: MovingClock, extra: Callable[[web.Application], None] | None = None
) -> StaffGateway:
    settings = settings_from(config)
    app = create_app(settings, clock)
    if extra is not None:
        extra(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return StaffGateway(server, settings, config, clock)


async def stop(gw: StaffGateway) -> None:
    for client in gw.clients:
        await client.close()
    await gw.server.close()


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def staff_config_path(tmp_path: Path, redis_server: RedisServer) -> Path:
    config = staff_config(tmp_path, redis_server.url)
    s = settings_from(config)
    add_staff(s, "ana", "admin", name="Ana Admin")
    add_staff(s, "sam", "supervisor", name="Sam Supervisor")
    add_staff(s, "abby", "agent", name="Abby Agent", departments=["it"])
    return config


@pytest.fixture
async def staff(staff_config_path: Path, clock: MovingClock) -> AsyncIterator[StaffGateway]:
    gw = await start(staff_config_path, clock)
    yield gw
    await stop(gw)
