"""What the local stand-ins for hosted help desks (Zammad, Freshdesk, Zendesk) share: an https aiohttp server on
127.0.0.1, port 0, on its own thread and loop, that records every request and can be made to fail.

The gateway's workers are separate processes that call it while the test waits on them; the test reaches into
its state (tickets, articles) under `lock`. Failures a test can ask for: `down` (every call 503), `script`
(the next matching call answered as given: a 429 with or without Retry-After, a 422 with the system's words),
and `hold` (a create is done, and its answer never leaves: the worker is killed before it hears it). The
stand-in also plays the help desk's staff: it sends the webhooks the real system sends, signed its way, to
the gateway's events URL, from its own loop (the test awaits the answer without blocking the gateway).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import trustme
from aiohttp import web

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


def form_parts(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str, bytes]]]:
    """A multipart/form-data body as (fields, files): (name, value) and (name, filename, content type, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, str, str, bytes]] = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields.append((name, data.decode()))
        else:
            files.append((name, filename, part.get_content_type(), data))
    return fields, files


def fixed(answer: Callable[[], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler that answers JSON made by `answer` (read when asked, so it sees the stand-in's state then)."""

    async def handle(_: web.Request) -> web.Response:
        return web.json_response(answer())

    return handle


def payload(system: str, name: str) -> dict[str, Any]:
    """A recorded payload (tests/payloads/<system>/<name>, see its NOTES.md), to fill in."""
    return dict(json.loads((PAYLOADS / system / name).read_text()))


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    authorized: bool
    at: float = field(default_factory=time.monotonic)
    status: int = 0  # what was answered (0 while an answer is held back)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Scripted:
    """The answer to the next call of `method` on a path starting with `path`."""

    status: int
    method: str = "*"
    path: str = ""
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    """A webhook the stand-in sent to the gateway, and what the gateway answered each time it was sent."""

    body: bytes
    headers: dict[str, str]
    answers: list[int] = field(default_factory=list)


class HelpDesk:
    """The server machinery; a subclass adds its routes (`routes`), its auth check and its error body."""

    name = "helpdesk"

    def __init__(self, ca_dir: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = ca_dir / f"{self.name}-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.down = False
        self.hold: tuple[str, str] | None = None  # (method, path): do the write, never answer
        self.held = threading.Event()
        self.sent: list[Sent] = []
        self.events_url = ""  # the gateway's POST /backends/<name>/events
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # --- what a subclass gives -------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str) -> web.Response:
        """An error in the system's own JSON shape."""
        return web.json_response({"error": message}, status=status)

    def all_tickets(self) -> list[Any]:
        """Every ticket the stand-in holds, oldest first."""
        raise NotImplementedError

    def answer_headers(self, request: web.Request) -> dict[str, str]:
        """Headers the system adds to every answer (Freshdesk's rate limit counters)."""
        return {}

    def refuse(self, request: web.Request) -> web.StreamResponse | None:
        """A system's own reason to refuse before anything else (Freshdesk's exhausted allowance)."""
        return None

    # --- server ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def calls(self, method: str, path: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def start(self) -> HelpDesk:
        threading.Thread(target=self._serve, name=f"{self.name}-stand-in", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the {self.name} stand-in did not start")
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
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        record = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body,
                          self.authorized(request))  # fmt: skip
        with self.lock:
            self.requests.append(record)
            scripted = next((s for s in self.script if s.method in ("*", request.method)
                             and request.path.startswith(s.path)), None)  # fmt: skip
            if scripted is not None:
                self.script.remove(scripted)
        resp = self._before(request, record, scripted)
        if resp is None:
            resp = await handler(request)
            hold = self.hold
            if hold is not None and (request.method, request.path) == hold and resp.status < 300:
                self.held.set()
                await asyncio.sleep(3600)  # the write is done; its answer never leaves
        for k, v in self.answer_headers(request).items():
            resp.headers.setdefault(k, v)
        record.status = resp.status
        return resp

    def _before(self, request: web.Request, record: Recorded, scripted: Scripted | None) -> web.StreamResponse | None:
        if not record.authorized:
            return self.error(401, "unauthorized")
        refused = self.refuse(request)
        if refused is not None:
            return refused
        if self.down:
            return web.Response(status=503, text="<html><body>Service Unavailable</body></html>",
                                content_type="text/html")  # fmt: skip
        if scripted is not None:
            if scripted.body is None:
                return web.Response(status=scripted.status, headers=scripted.headers)
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        return None

    # --- staff's side: webhooks to the gateway ----------------------------------------------------------

    def post_to_gateway(self, body: bytes, headers: dict[str, str], *, retries: int = 0) -> Awaitable[Sent]:
        """Send one webhook to the gateway from the stand-in's loop; with `retries`, send it again after each answer
        that is not 2xx, as the system does. Await the result from the test's own loop."""
        sent = Sent(body, headers)
        with self.lock:
            self.sent.append(sent)
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._deliver(sent, retries), self._loop))

    def resend(self, sent: Sent) -> Awaitable[Sent]:
        """The same delivery again, byte for byte (a redelivery after a lost answer)."""
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._deliver(sent, 0), self._loop))

    async def _deliver(self, sent: Sent, retries: int) -> Sent:
        async with aiohttp.ClientSession() as http:
            for _ in range(retries + 1):
                async with http.post(self.events_url, data=sent.body, headers=sent.headers) as resp:
                    await resp.read()
                    sent.answers.append(resp.status)
                if resp.status < 300:
                    break
                await asyncio.sleep(0.05)
        return sent
