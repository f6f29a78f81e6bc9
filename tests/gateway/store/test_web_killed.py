"""The web process SIGKILLed in the middle of commits, under load: every request it acknowledged has exactly one
ticket after the restart, and a client's retry of a request that got no answer makes no second one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import form
from tests.support.gateway import TOKEN, intake, settings_from, start_process, write_config
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import eventually
from workers.backends.builtin import BuiltinBackend

REQUESTS = 80
KILL_AFTER = 25  # answers seen before the SIGKILL


@pytest.fixture
def web(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Path, str, list[subprocess.Popen[bytes]]]]:
    port = free_port()
    config = write_config(tmp_path, redis_server.url, server={"port": port, "host": "127.0.0.1"})
    started: list[subprocess.Popen[bytes]] = []
    yield config, f"http://127.0.0.1:{port}", started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


async def up(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(base + "/healthz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def post(http: aiohttp.ClientSession, base: str, i: int) -> str | None:
    """The request id the gateway acknowledged, or None when no 2xx came back (refused, or killed mid-way)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"load-{i}"}
    try:
        async with http.post(base + "/hooks/webform", json=form(message=f"Request number {i}"), headers=headers) as r:
            return str((await r.json())["request_id"]) if 200 <= r.status < 300 else None
    except (TimeoutError, aiohttp.ClientError):
        return None


async def test_web_sigkilled_mid_commit_under_load_every_acknowledged_request_has_exactly_one_ticket(
    tmp_path: Path, web: tuple[Path, str, list[subprocess.Popen[bytes]]]
) -> None:
    config, base, procs = web
    log = tmp_path / "web.log"
    procs.append(start_process(config, log, "serve"))
    answered: dict[int, str | None] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        await eventually(lambda: up(http, base), "the web process up")
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                answered[i] = await post(http, base, i)
                if len(answered) == KILL_AFTER:
                    os.killpg(procs[0].pid, signal.SIGKILL)  # mid-flight: others are being committed now

        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        acked = {i: rid for i, rid in answered.items() if rid is not None}
        assert KILL_AFTER <= len(acked) < REQUESTS  # the kill cut some requests off
        procs.append(start_process(config, log, "serve"))
        await eventually(lambda: up(http, base), "the web process up again")
        # The clients retry what got no answer, with the same idempotency key; an acknowledged one keeps its id.
        for i in range(REQUESTS):
            again = await post(http, base, i)
            assert again is not None
            if i in acked:
                assert again == acked[i]
    assert intake(config, "worker", "--burst").returncode == 0
    assert BuiltinBackend.from_settings(settings_from(config)).count() == REQUESTS
