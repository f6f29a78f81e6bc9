from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway import signatures
from gateway.logs import JsonFormatter
from gateway.routing.router import Router
from gateway.server.app import RUNTIME, create_app
from gateway.settings import Settings
from tests.support.gateway import SIGNING_SECRET, TOKEN, settings_from, write_config
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer

pytest_plugins = [
    "tests.mail_fixtures",
    "tests.channels.slack_support",
    "tests.directory_fixtures",
    "tests.redmine_fixtures",
    "tests.rt_fixtures",
]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything this process logs, at DEBUG, through the JSON formatter production uses (the privacy tests read
    it for values a family would not want logged)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL per test process, started on first use; each test takes a new database on it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config_path(tmp_path: Path, redis_server: RedisServer) -> Path:
    return write_config(tmp_path, redis_server.url)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return settings_from(config_path)


@dataclass
class Gateway:
    """The gateway's web app on a real loopback port, and a client session to talk to it."""

    server: TestServer
    http: aiohttp.ClientSession
    settings: Settings

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @property
    def router(self) -> Router:
        """The web app's own router: a test waits on the rules it holds, never on the clock."""
        return self.server.app[RUNTIME].pipeline.router

    async def post_form(
        self, payload: Any, *, token: str | None = TOKEN, key: str | None = None, sign: bool = False
    ) -> aiohttp.ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None and not sign:
            headers["Authorization"] = f"Bearer {token}"
        if sign:
            headers["X-Intake-Signature"] = signatures.sign(SIGNING_SECRET.encode(), body, time.time())
        if key is not None:
            headers["Idempotency-Key"] = key
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body  # aiohttp warns on large raw bodies
        resp = await self.http.post(self.base + "/hooks/webform", data=data, headers=headers)
        await resp.read()
        return resp


async def start_gateway(settings: Settings) -> tuple[TestServer, aiohttp.ClientSession]:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    return server, aiohttp.ClientSession()


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


def form(**overrides: Any) -> dict[str, Any]:
    """A valid web form submission."""
    body: dict[str, Any] = {
        "name": "Ana Pérez",
        "email": "ana.perez@example.org",
        "category": "transportation",
        "school": "lhs",
        "message": "The 7:10 bus to Lincoln did not come this morning.",
        "language": "es",
    }
    body.update(overrides)
    return body
