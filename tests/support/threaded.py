"""The gateway's web app served from a thread of its own, for synchronous tests (hypothesis runs each example
synchronously, and cannot await)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp.test_utils import TestServer

from gateway.server.app import create_app
from gateway.settings import Settings

DEADLINE_S = 120.0  # starting or stopping on a loaded machine: a hang fails, slowness does not


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The gateway on a real loopback port; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = TestServer(create_app(settings), host="127.0.0.1")
    try:
        asyncio.run_coroutine_threadsafe(server.start_server(), loop).result(timeout=DEADLINE_S)
        yield str(server.make_url("")).rstrip("/")
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=DEADLINE_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=DEADLINE_S)
        loop.close()
