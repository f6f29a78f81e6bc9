"""X test helpers: a gateway configured for X direct messages, and Account Activity webhooks signed as X signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from gateway.settings import Settings
from tests.conftest import start_gateway
from tests.support.gateway import REPO, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.x_api import XStandIn

CONSUMER_KEY = "x-consumer-key-for-tests"
CONSUMER_SECRET = "x-consumer-secret-for-tests-6b2f"
ACCESS_TOKEN = "1500000000000000001-x-access-token-for-tests"
ACCESS_SECRET = "x-access-token-secret-for-tests-aa31"
USER_TOKEN = "x-oauth2-user-token-for-tests-51d0"
ACCOUNT = "1500000000000000001"  # the district's X account (for_user_id)
ROSA = "2244000001"
PAYLOADS = REPO / "tests" / "payloads" / "x"


def x_settings(api: XStandIn | None = None, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "access_token": ACCESS_TOKEN,
        "access_token_secret": ACCESS_SECRET,
        "api_url": api.url if api else "https://api.x.com",
        "school": "district",
        "department": "communications",
    }
    conf.update(extra)
    return conf


def x_config(tmp_path: Path, redis_server: RedisServer, api: XStandIn | None = None, **extra: Any) -> Path:
    return write_config(tmp_path, redis_server.url, channels={"x": x_settings(api, **extra)})


def x_sign(body: bytes, secret: str = CONSUMER_SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def dm(text: str, *, sender: str = ROSA, ident: str | None = None, at: float | None = None) -> dict[str, Any]:
    """An Account Activity body with one direct message to the district's account."""
    return {
        "for_user_id": ACCOUNT,
        "direct_message_events": [{
            "type": "message_create", "id": ident or str(10**18 + secrets.randbelow(10**17)),
            "created_timestamp": str(int((at or time.time()) * 1000)),
            "message_create": {"target": {"recipient_id": ACCOUNT}, "sender_id": sender,
                               "message_data": {"text": text, "entities": {"urls": []}}},
        }],
        "users": {sender: {"id": sender, "name": "Rosa Alvarez", "screen_name": "rosa_alvarez_atx"}},
    }  # fmt: skip


class XGateway:
    def __init__(self, server: TestServer, http: aiohttp.ClientSession, settings: Settings, config: Path) -> None:
        self.server, self.http, self.settings, self.config = server, http, settings, config

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def post_raw(self, body: bytes, signature: str | None = "sign") -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["x-twitter-webhooks-signature"] = x_sign(body)
        elif signature is not None:
            headers["x-twitter-webhooks-signature"] = signature
        async with self.http.post(self.base + "/hooks/x", data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def post(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post_raw(json.dumps(payload).encode())


@asynccontextmanager
async def x_gateway(config: Path) -> AsyncIterator[XGateway]:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        yield XGateway(server, http, settings, config)
    finally:
        await http.close()
        await server.close()
