"""Meta test helpers: a gateway configured for Messenger, Instagram and WhatsApp, and webhooks signed as Meta signs.

Meta signs the body it sends, byte for byte: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>` with the app
secret. The payload builders follow tests/payloads/meta/ (see its NOTES.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from rq import Queue
from rq.serializers import JSONSerializer

from gateway.models import Commitment
from gateway.settings import Settings
from tests.conftest import start_gateway
from tests.support.gateway import REPO, intake, settings_from, write_config
from tests.support.meta_api import MetaStandIn
from tests.support.redis_server import RedisServer

APP_SECRET = "meta-app-secret-for-tests-41c9"
VERIFY_TOKEN = "meta-verify-token-7e02"
PAGE_ID = "104200000000001"
PAGE_TOKEN = "EAAG-page-token-for-tests-d3a1"
INSTAGRAM_ID = "17841400000000001"
NUMBER_ID = "106540000000001"
WA_TOKEN = "EAAG-whatsapp-token-for-tests-9b8c"
PARENT_WA = "15552013344"  # a wa_id: the parent's phone number without its +
PSID = "7100000000000001"
PAYLOADS = REPO / "tests" / "payloads" / "meta"


def meta_settings(api: MetaStandIn | None = None, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "graph_url": api.graph_url if api else "https://graph.facebook.com/v21.0",
        "ca_file": str(api.ca_file) if api else "",
        "pages": {"main": {"page_id": PAGE_ID, "token": PAGE_TOKEN, "instagram_id": INSTAGRAM_ID,
                           "school": "district", "department": "general", "language": "en"}},
        "numbers": {"main": {"phone_number_id": NUMBER_ID, "token": WA_TOKEN, "school": "lhs",
                             "department": "attendance", "language": "en"}},
    }  # fmt: skip
    conf.update(extra)
    if api is not None:
        api.tokens |= {PAGE_TOKEN, WA_TOKEN}
    return conf


def meta_config(tmp_path: Path, redis_server: RedisServer, api: MetaStandIn | None = None, **extra: Any) -> Path:
    channels: dict[str, Any] = {"meta": meta_settings(api, **extra.pop("meta", {}))}
    channels.update(extra.pop("channels", {}))
    return write_config(tmp_path, redis_server.url, channels=channels, **extra)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wamid() -> str:
    return "wamid." + secrets.token_hex(16)


def whatsapp(*messages: dict[str, Any], name: str = "Lan Tran", sender: str = PARENT_WA,
             statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """A WhatsApp webhook with these messages (each as WhatsApp writes one) from one sender."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15555550199", "phone_number_id": NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": sender}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290000000001", "changes": [{"field": "messages", "value": value}]}]}  # fmt: skip


def wa_text(body: str, *, sender: str = PARENT_WA, ident: str | None = None, at: float | None = None) -> dict[str, Any]:
    return {"from": sender, "id": ident or wamid(), "timestamp": str(int(at or time.time())), "type": "text",
            "text": {"body": body}}  # fmt: skip


def messenger(*events: dict[str, Any], page: str = PAGE_ID, product: str = "page") -> dict[str, Any]:
    return {"object": product, "entry": [{"id": page, "time": int(time.time() * 1000), "messaging": list(events)}]}


def fb_text(body: str, *, sender: str = PSID, mid: str | None = None, at: float | None = None,
            page: str = PAGE_ID) -> dict[str, Any]:  # fmt: skip
    return {"sender": {"id": sender}, "recipient": {"id": page}, "timestamp": int((at or time.time()) * 1000),
            "message": {"mid": mid or "m_" + secrets.token_hex(12), "text": body}}  # fmt: skip


class MetaGateway:
    """The gateway on a real loopback port, configured for Meta, and signed posts to it."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, settings: Settings, config: Path) -> None:
        self.server, self.http, self.settings, self.config = server, http, settings, config

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def post_raw(self, body: bytes, signature: str | None = "sign", path: str = "/hooks/meta") -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign(body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        async with self.http.post(self.base + path, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def post(self, payload: dict[str, Any]) -> tuple[int, str]:
        # Meta escapes non-ASCII characters in what it sends (and signs): json.dumps does the same by default.
        return await self.post_raw(json.dumps(payload).encode())


@asynccontextmanager
async def meta_gateway(config: Path) -> AsyncIterator[MetaGateway]:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        yield MetaGateway(server, http, settings, config)
    finally:
        await http.close()
        await server.close()


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]


def tickets(config: Path) -> list[dict[str, Any]]:
    return list(json.loads(intake(config, "tickets", "list", "--json", "--per-page", "500").stdout)["tickets"])


def show(config: Path, ticket: int | str) -> str:
    return intake(config, "tickets", "show", str(ticket)).stdout


def spooled(settings: Settings) -> int:
    """How many messages wait in the local spool for Redis to come back."""
    db = sqlite3.connect(settings.path_in_data("spool.sqlite3"))
    try:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
    finally:
        db.close()


def commitments(redis_server: RedisServer) -> list[Commitment]:
    """What the web process committed for the workers, in queue order."""
    q = Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
    return [Commitment.model_validate(j.args[0]) for j in q.jobs]


async def metric(gw: MetaGateway, name: str, **labels: str) -> float:
    async with gw.http.get(gw.base + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
