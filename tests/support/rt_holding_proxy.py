"""A loopback HTTP proxy that can let one request reach the server and then never answer it.

For the crash between a system's answer and our record of it: the request is forwarded, the server does
the work and answers (RT's 201), and the proxy keeps the answer, tells the test (`held`), and waits, so
the test can kill the worker while the ticket exists and the worker never heard of it. Its own thread
and loop, like the Twilio stand-in: the worker is another process the test waits on.
"""

from __future__ import annotations

import asyncio
import re
import threading

import aiohttp
from aiohttp import web

from tests.support.redis_server import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


class HoldingProxy:
    """Forwards everything to `target`; while `hold` names a method and path pattern, the first matching
    request's answer with status `hold_status` is kept back for good, and `held` is set."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = free_port()
        self.hold: tuple[str, str] | None = None
        self.hold_status = 201
        self.held = threading.Event()
        self.forwarded: list[tuple[str, str, int]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._release: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> HoldingProxy:
        self._thread.start()
        assert self._ready.wait(30), "the proxy did not start"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._loop.run_forever()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._ready.set()

    async def _shutdown(self) -> None:
        assert self._release is not None
        self._release.set()
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.target + request.path_qs, data=body, headers=headers, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        self.forwarded.append((request.method, request.path, status))
        hold = self.hold
        if hold and request.method == hold[0] and re.fullmatch(hold[1], request.path) and status == self.hold_status:
            self.hold = None
            self.held.set()
            assert self._release is not None
            await self._release.wait()  # the caller is killed meanwhile; nobody reads this answer
        return web.Response(status=status, body=payload, headers=out)
