"""Desk actions that change only the store (assign, fields, merge, incident link, time) reach the live dashboard
at once through its notice, not at its periodic refresh (set here far beyond the test's deadline)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.tickets import TicketStore
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.dashboard.test_dashboard_http import boss
from tests.gateway.web.sse import Stream, number
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from workers.desk_actions import DeskService

NOTICE_DEADLINE_S = 10.0  # generous for a shared machine, and far short of the refresh below
REFRESH_MAX_S = 3600.0


@pytest.fixture
async def watched(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Gateway, Path]]:
    config = write_config(tmp_path, redis_server.url, dashboard={"refresh_max_s": REFRESH_MAX_S})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings), config
    await http.close()
    await server.close()


async def test_an_assignment_reaches_a_watcher_without_waiting_for_the_refresh(
    watched: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, config = watched
    async with gw.http.get(
        gw.base + "/dashboard/events", headers=await boss(gw), timeout=aiohttp.ClientTimeout()
    ) as resp:
        stream = Stream(resp)
        assert (await gw.post_form(form(category="transportation"))).status == 202
        done = intake(config, "worker", "--burst")
        assert done.returncode == 0, done.stderr[-2000:]
        await stream.until(lambda s: number(s.get("tickets", ""), "unassigned-total") == 1)

        store = TicketStore.from_settings(gw.settings)
        try:
            started = time.monotonic()
            DeskService(store, gw.settings, redis_server.client()).assign(1, "ana.lopez", "boss")
        finally:
            store.close()
        await stream.until(lambda s: number(s.get("tickets", ""), "unassigned-total") == 0, timeout=NOTICE_DEADLINE_S)
        assert time.monotonic() - started < NOTICE_DEADLINE_S < REFRESH_MAX_S
