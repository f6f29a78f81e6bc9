"""A help desk on the far side of the generic `webhook` backend: it speaks the contract in README ("The webhook
backend") and records everything it receives.

It runs an aiohttp server on 127.0.0.1, port 0, over https with a certificate from a test CA (trustme), on
its own thread and loop, so the gateway's worker processes call it while the test waits on them. It checks
every X-Intake-Signature, makes each ticket once per `request_id` and each comment once per `comment_id`, as
the contract asks of a receiver, and can be made to fail: down (503), refusing our credentials (401), or
scripted answers (429 with or without Retry-After, a 422 that says what is wrong), or a ticket made whose
answer is held back (the worker is killed before it hears it). `signed_event` signs an event the way a
receiver sends one back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signed_event(secret: str, at: int | None = None, **fields: Any) -> tuple[bytes, dict[str, str]]:
    """An event body for POST /backends/webhook/events and its headers, signed as a receiver signs it."""
    body = json.dumps(fields).encode()
    return body, {"Content-Type": "application/json", "X-Intake-Signature": sign(secret, body, at)}


@dataclass
class Received:
    event: str
    body: dict[str, Any]
    headers: dict[str, str]
    signed: bool
    at: float = field(default_factory=time.monotonic)
    status: int = 0  # what we answered (0 while the answer is held back)


@dataclass
class Scripted:
    """The answer to the next call of `event` (a type such as ticket.create, or "*" for any)."""

    status: int
    event: str = "*"
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WebhookReceiver:
    secret: str
    ca_dir: Path
    received: list[Received] = field(default_factory=list)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[Scripted] = field(default_factory=list)
    down: bool = False  # answer 503 to everything, as a system in an outage
    credentials_refused: bool = False  # answer 401 to everything, as a system whose token expired
    hold_create: bool = False  # make the ticket, then never answer (until the client goes away)
    port: int = 0

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self.ca_file = self.ca_dir / "receiver-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.created_event = threading.Event()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/intake"

    def calls(self, event: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event == event]

    def comments(self, ref: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.tickets[ref]["comments"])

    def answered(self, status: int) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == status]

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._serve, name="webhook-receiver", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
        app.router.add_post("/intake", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(ctx)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _signed(self, request: web.Request, raw: bytes) -> bool:
        header = request.headers.get("X-Intake-Signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t = parts.get("t", "")
        if not t.isdigit() or abs(time.time() - int(t)) > 300:
            return False
        expected = hmac.new(self.secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        record = Received(request.headers.get("X-Intake-Event", ""), json.loads(raw), dict(request.headers),
                          self._signed(request, raw))  # fmt: skip
        with self._lock:
            self.received.append(record)
            scripted = next((s for s in self.script if s.event in ("*", record.event)), None)
            if scripted is not None:
                self.script.remove(scripted)
        resp = await self._answer(record, scripted)
        record.status = resp.status
        return resp

    async def _answer(self, record: Received, scripted: Scripted | None) -> web.StreamResponse:
        event, body = record.event, record.body
        if not record.signed:
            return web.json_response({"error": "bad signature"}, status=401)
        if self.down:
            return web.json_response({"error": "down for maintenance"}, status=503)
        if self.credentials_refused:
            return web.json_response({"error": "token expired"}, status=401)
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        if event == "ticket.create":
            return await self._create(body)
        if event == "ticket.comment":
            with self._lock:
                comments = self.tickets[body["ticket_ref"]]["comments"]
                if all(c["comment_id"] != body["comment_id"] for c in comments):
                    comments.append(body)
            return web.json_response({"ok": True}, status=201)
        if event in ("ticket.link", "ticket.status"):
            with self._lock:
                self.tickets[body.get("child_ref") or body["ticket_ref"]].setdefault(event, []).append(body)
            return web.json_response({"ok": True})
        return web.json_response({"ok": True})  # ping

    async def _create(self, body: dict[str, Any]) -> web.StreamResponse:
        with self._lock:
            ref = next((r for r, t in self.tickets.items() if t["request_id"] == body["request_id"]), None)
            seen = ref is not None
            if ref is None:
                ref = f"WH-{len(self.tickets) + 1}"
                self.tickets[ref] = {"request_id": body["request_id"], "create": body, "comments": []}
        self.created_event.set()
        if self.hold_create and not seen:
            await asyncio.sleep(3600)  # the ticket exists; its 201 never leaves (the worker is killed first)
        return web.json_response({"ticket_ref": ref}, status=200 if seen else 201)
