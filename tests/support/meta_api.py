"""A local stand-in for Meta's Graph API (Messenger, Instagram, WhatsApp Cloud API), recording every request.

https on 127.0.0.1, port 0, with a certificate from a test CA (trustme), on its own thread and loop (the
gateway's workers are other processes calling it while the test waits). It speaks the documented wire
format of what the gateway calls, with a bearer token in the Authorization header:
- `POST /<version>/me/messages` (Messenger and Instagram): `recipient.id`, `messaging_type` (RESPONSE, or
  MESSAGE_TAG with `tag: HUMAN_AGENT`), `message.text`; answers `{"recipient_id", "message_id"}`;
- `POST /<version>/<PHONE_NUMBER_ID>/messages` (WhatsApp): `messaging_product: whatsapp`, `to`, `type` text or
  template; answers `{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`;
- `GET /<version>/<MEDIA_ID>`: `{"url", "mime_type", "sha256", "file_size", "id"}`, a download URL on this host
  that needs the same bearer token and may be scripted to have expired (404) when fetched;
- `GET /<version>/<PSID>?fields=...`: a profile; `GET /cdn/<name>`: Messenger's CDN (no token).
The 24-hour window is enforced per recipient the test closes: Messenger answers (#10) subcode 2018278 to a
free-form send (and to HUMAN_AGENT too once a week has passed), WhatsApp 131047 (at once, or as a `failed`
receipt the test then posts, as Meta does). Scripted failures: 429, 5xx, any error code, one per send.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

VERSION = "v21.0"


@dataclass
class Sent:
    path: str
    token: str
    body: dict[str, Any]
    message_id: str = ""


@dataclass
class Failure:
    status: int
    code: int = 0
    subcode: int = 0


@dataclass
class MetaStandIn:
    ca_dir: Path
    tokens: set[str] = field(default_factory=set)  # the page and number tokens it accepts
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, path, authorized)
    sent: list[Sent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # consumed one per send
    closed_24h: set[str] = field(default_factory=set)  # recipients whose 24-hour window is closed
    closed_7d: set[str] = field(default_factory=set)  # ... and whose 7 days of HUMAN_AGENT are over too
    unavailable: set[str] = field(default_factory=set)  # (#551) this person is not available right now
    window_refused_later: bool = False  # WhatsApp takes the send and fails it later (a `failed` receipt)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media id or CDN name -> (bytes, type)
    expire_next_urls: int = 0  # the next media URLs handed out answer 404 when fetched (past their 5 minutes)
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self.ca_file = self.ca_dir / "meta-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._urls: dict[str, tuple[str, bool]] = {}  # download token -> (media id, expired)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/{VERSION}"

    def cdn_url(self, name: str, data: bytes, content_type: str) -> str:
        self.media[name] = (data, content_type)
        return f"{self.base_url}/cdn/{name}"

    def sends(self, kind: str | None = None) -> list[Sent]:
        """What the gateway sent: `messenger` (/me/messages) or `whatsapp` (/<number>/messages), or all."""
        with self._lock:
            found = list(self.sent)
        if kind == "messenger":
            return [s for s in found if s.path.endswith("/me/messages")]
        if kind == "whatsapp":
            return [s for s in found if not s.path.endswith("/me/messages")]
        return found

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> MetaStandIn:
        self._thread = threading.Thread(target=self._serve, name="meta-stand-in", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Meta stand-in did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._start())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        ok = token in self.tokens
        with self._lock:
            self.requests.append((request.method, request.path, ok))
        if request.path.startswith("/cdn/"):
            data, ctype = self.media.get(request.path.removeprefix("/cdn/"), (b"", ""))
            return web.Response(body=data, content_type=ctype) if data else web.Response(status=404)
        if request.path.startswith("/files/"):
            return self._download(request.path.removeprefix("/files/"), ok)
        if not ok:
            return _error(401, 190, "Invalid OAuth access token.")
        path = request.path.removeprefix(f"/{VERSION}/")
        if request.method == "POST" and path.endswith("messages"):
            return self._send(request.path, token, await request.json())
        if request.method == "GET" and path in self.media:
            return self._media_url(path)
        if request.method == "GET" and path in self.profiles:
            return web.json_response({**self.profiles[path], "id": path})
        return _error(400, 100, "Unsupported get request.")

    def _send(self, path: str, token: str, body: dict[str, Any]) -> web.Response:
        whatsapp = not path.endswith("/me/messages")
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            return _error(failure.status, failure.code, "scripted failure", failure.subcode)
        if whatsapp:
            if body.get("messaging_product") != "whatsapp" or body.get("type") not in ("text", "template"):
                return _error(400, 100, "(#100) Invalid parameter")
            to = str(body.get("to", ""))
            if body["type"] == "text" and to in self.closed_24h and not self.window_refused_later:
                return _error(400, 131047, "Re-engagement message")
            message_id = "wamid." + secrets.token_hex(12)
            answer: dict[str, Any] = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                      "messages": [{"id": message_id}]}  # fmt: skip
        else:
            to = str((body.get("recipient") or {}).get("id", ""))
            kind, tag = body.get("messaging_type"), body.get("tag")
            if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG") or (kind == "MESSAGE_TAG" and tag != "HUMAN_AGENT"):
                return _error(400, 100, "(#100) Invalid messaging_type")
            if to in self.unavailable:
                return _error(400, 551, "This person isn't available right now.", 1545041)
            if (to in self.closed_24h and kind != "MESSAGE_TAG") or to in self.closed_7d:
                return _error(400, 10, "(#10) This message is sent outside of allowed window.", 2018278)
            message_id = "m_" + secrets.token_hex(16)
            answer = {"recipient_id": to, "message_id": message_id}
        with self._lock:
            self.sent.append(Sent(path, token, body, message_id))
        return web.json_response(answer)

    def _media_url(self, media_id: str) -> web.Response:
        data, ctype = self.media[media_id]
        download = secrets.token_hex(8)
        with self._lock:
            expired = self.expire_next_urls > 0
            self.expire_next_urls -= int(expired)
            self._urls[download] = (media_id, expired)
        return web.json_response({
            "messaging_product": "whatsapp", "url": f"{self.base_url}/files/{download}", "mime_type": ctype,
            "sha256": hashlib.sha256(data).hexdigest(), "file_size": str(len(data)), "id": media_id,
        })  # fmt: skip

    def _download(self, download: str, authorized: bool) -> web.Response:
        if not authorized:
            return web.Response(status=401)
        media_id, expired = self._urls.get(download, ("", True))
        if expired:
            return web.Response(status=404, text="URL signature expired")
        data, ctype = self.media[media_id]
        return web.Response(body=data, content_type=ctype)


def _error(status: int, code: int, message: str, subcode: int = 0) -> web.Response:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGh"}
    if subcode:
        err["error_subcode"] = subcode
    return web.json_response({"error": err}, status=status)
