"""A local stand-in for X's API v2 direct messages, checking OAuth 1.0a signatures the way X does.

`POST /2/dm_conversations/with/<participant_id>/messages` with `{"text": ...}`: answers 201
`{"data": {"dm_conversation_id", "dm_event_id"}}`. The `Authorization` header must be an OAuth 1.0a
header whose HMAC-SHA1 signature this server recomputes from the known secrets (its own reading of
RFC 5849, independent of the gateway's), or `Bearer <user token>`. Scripted failures (429 with
x-rate-limit-reset, 5xx, 403 for a person who does not take messages) are consumed one per send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web


@dataclass
class Dm:
    participant: str
    text: str
    auth: str  # "oauth1" or "bearer"


@dataclass
class XStandIn:
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    user_token: str = ""
    sent: list[Dm] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused request was refused
    failures: list[int] = field(default_factory=list)  # HTTP statuses, consumed one per send
    closed_to: set[str] = field(default_factory=set)  # people who take no messages from the account
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _oauth_ok(self, method: str, url: str, header: str) -> bool:
        fields = {}
        for part in header.removeprefix("OAuth ").split(","):
            name, _, value = part.strip().partition("=")
            fields[unquote(name)] = unquote(value.strip('"'))
        given = fields.pop("oauth_signature", "")
        if fields.get("oauth_consumer_key") != self.consumer_key or fields.get("oauth_token") != self.access_token:
            return False

        def enc(s: str) -> str:
            return quote(s, safe="~-._")

        params = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(fields.items()))
        base = f"{method}&{enc(url)}&{enc(params)}"
        key = f"{enc(self.consumer_secret)}&{enc(self.access_token_secret)}".encode()
        expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
        return hmac.compare_digest(given, expected)

    async def _handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        url = f"http://127.0.0.1:{self.port}{request.path}"
        if header.startswith("OAuth ") and self._oauth_ok(request.method, url, header):
            how = "oauth1"
        elif self.user_token and header == f"Bearer {self.user_token}":
            how = "bearer"
        else:
            self.refused.append("unauthorized")
            return web.json_response({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                      "detail": "Unauthorized"}, status=401)  # fmt: skip
        body: dict[str, Any] = await request.json()
        participant = request.match_info["participant"]
        if self.failures:
            status = self.failures.pop(0)
            headers = {"x-rate-limit-reset": "1"} if status == 429 else {}
            return web.json_response({"title": "scripted", "status": status}, status=status, headers=headers)
        if participant in self.closed_to:
            detail = "You are not permitted to send messages to this user."
            body403 = {"title": "Forbidden", "status": 403, "type": "about:blank", "detail": detail}
            return web.json_response(body403, status=403)
        if not isinstance(body.get("text"), str) or not body["text"]:
            return web.json_response({"title": "Invalid Request", "status": 400}, status=400)
        self.sent.append(Dm(participant, body["text"], how))
        event = str(secrets.randbelow(10**18) + 10**18)
        return web.json_response({"data": {"dm_conversation_id": f"{participant}-1", "dm_event_id": event}}, status=201)

    def start(self) -> XStandIn:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/2/dm_conversations/with/{participant}/messages", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="x-stand-in", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
