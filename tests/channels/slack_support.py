"""Fixtures for the Slack channel: the Web API stand-in, a gateway with Slack on, signed posts to it."""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway import keys
from gateway.logs import JsonFormatter
from gateway.settings import Settings
from tests.conftest import start_gateway
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import SIGNING_SECRET, SlackAPI, form_body, interactive_body, signed_headers, slack_config

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slack"
_ids = itertools.count(1)


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def event(name: str = "event_dm.json", **event_changes: Any) -> dict[str, Any]:
    """A recorded Events API payload with a fresh event_id and message ts (so each test's events are new)."""
    body = payload(name)
    n = next(_ids)
    body["event_id"] = f"Ev0TEST{n:05d}"
    body["event"]["ts"] = f"1700010000.{n:06d}"
    body["event"].update(event_changes)
    return body


@dataclass
class SlackGateway:
    server: TestServer
    http: aiohttp.ClientSession
    settings: Settings

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> tuple[int, str]:
        h = signed_headers(body, secret=secret, timestamp=timestamp, content_type=content_type) if sign else {}
        h.update(headers or {})
        async with self.http.post(self.base + path, data=body, headers=h) as resp:
            return resp.status, await resp.text()

    async def event(self, body: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return await self.post("/hooks/slack/events", json.dumps(body).encode(), **kw)

    async def command(self, fields: dict[str, str], **kw: Any) -> tuple[int, str]:
        body = form_body(fields)
        return await self.post("/hooks/slack/commands", body, content_type="application/x-www-form-urlencoded", **kw)

    async def interactive(self, body: dict[str, Any], **kw: Any) -> tuple[int, str]:
        raw = interactive_body(body)
        return await self.post("/hooks/slack/interactive", raw, content_type="application/x-www-form-urlencoded", **kw)


def stored_requests(redis_server: RedisServer) -> list[dict[str, str]]:
    r = redis_server.client()
    out = []
    for key in r.scan_iter(keys.request("*")):
        if key.count(b":") == 2:
            out.append({k.decode(): v.decode() for k, v in r.hgetall(key).items()})
    return out


def queued_deliveries(redis_server: RedisServer) -> int:
    return int(redis_server.client().llen("rq:queue:deliver-builtin"))


@pytest.fixture
def slack_api() -> Iterator[SlackAPI]:
    api = SlackAPI().start()
    yield api
    api.stop()


@pytest.fixture
def slack_config_path(tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI) -> Path:
    return write_config(tmp_path, redis_server.url, channels={"slack": slack_config(slack_api)})


@pytest.fixture
async def slack_gateway(slack_config_path: Path) -> AsyncIterator[SlackGateway]:
    server, http = await start_gateway(settings_from(slack_config_path))
    yield SlackGateway(server, http, settings_from(slack_config_path))
    await http.close()
    await server.close()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything logged in this process at DEBUG, through the production JSON formatter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old)
