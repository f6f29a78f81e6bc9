"""Stopping background tasks: the caller's own cancellation is never swallowed on the way."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from gateway.server.app import SHUTDOWN_STEP_S, create_app
from gateway.settings import Settings
from gateway.tasks import being_cancelled, cancel_and_wait, stop_if_cancelled, until_stopped_or_dead
from tests.support.redis_server import RedisServer


async def slow_to_stop(stopped: asyncio.Event) -> None:
    """A child that takes a moment to clean up after it is cancelled, as an IMAP logout does."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)
        stopped.set()
        raise


async def test_a_caller_cancelled_while_it_stops_a_child_is_itself_cancelled() -> None:
    stopped = asyncio.Event()

    async def parent() -> str:
        child = asyncio.create_task(slow_to_stop(stopped))
        await asyncio.sleep(0)
        await cancel_and_wait(child)
        return "ran on"  # the old suppress(CancelledError) pattern got here and looped again

    task = asyncio.create_task(parent())
    await asyncio.sleep(0.05)
    task.cancel()  # lands while the parent is waiting for the child to stop
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    await asyncio.wait_for(stopped.wait(), 2)  # and the child still finished its clean-up


async def test_every_child_has_stopped_when_it_returns() -> None:
    events = [asyncio.Event() for _ in range(3)]
    children = [asyncio.create_task(slow_to_stop(e)) for e in events]
    await asyncio.sleep(0)
    await cancel_and_wait(*children)
    assert all(c.done() for c in children)
    assert all(e.is_set() for e in events)


async def test_a_child_that_had_failed_is_reported_by_its_error_type_only(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise ValueError("parent@example.org wrote something private")

    done_early = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="intake.tasks"):
        await cancel_and_wait(done_early)
    assert [r.error for r in caplog.records] == ["ValueError"]  # type: ignore[attr-defined]
    assert "parent@example.org" not in caplog.text


async def test_a_cancellation_turned_into_another_error_is_still_seen() -> None:
    seen: list[bool] = []

    async def converts() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            try:
                raise ConnectionError("what redis-py may raise mid-command")
            except ConnectionError:
                seen.append(being_cancelled())

    task = asyncio.create_task(converts())
    await asyncio.sleep(0)
    assert not being_cancelled()
    task.cancel()
    await asyncio.wait({task})
    assert seen == [True]


async def test_a_loop_over_redis_stops_when_cancelled_even_where_redis_py_swallows_it(
    redis_server: RedisServer,
) -> None:
    """redis-py can return normally from a command whose task was cancelled while it connected;
    a loop that checks after each await still stops, wherever the cancellation lands."""
    outcomes = []
    for delay in [0, 0.0001, 0.0003, 0.0006, 0.001, 0.002, 0.004] * 3:
        client = aioredis.Redis.from_url(redis_server.url)

        async def poll(client: aioredis.Redis = client) -> None:
            while True:
                await client.hgetall("anything")
                stop_if_cancelled()
                await asyncio.sleep(0.5)

        task = asyncio.create_task(poll())
        await asyncio.sleep(delay)
        task.cancel()
        _, pending = await asyncio.wait({task}, timeout=2)
        outcomes.append(not pending and task.cancelled())
        if pending:
            task.cancel()
        await client.aclose()
    assert all(outcomes)


async def test_the_web_app_shuts_down_at_once_right_after_it_started(settings: Settings) -> None:
    """The routing refresh task used to be mid-connect to Redis at shutdown, lose its cancellation,
    and hold every stop for the whole shutdown step."""
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/healthz")) as resp:
        assert resp.status == 200
    started = time.monotonic()
    await server.close()
    assert time.monotonic() - started < SHUTDOWN_STEP_S / 2


async def test_a_loop_that_dies_is_named_so_its_process_exits_non_zero_and_a_stop_names_none() -> None:
    async def dies() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("a bug in one loop")

    forever = asyncio.create_task(asyncio.sleep(3600), name="healthy")
    dying = asyncio.create_task(dies(), name="mail:help")
    assert await until_stopped_or_dead(asyncio.Event(), [forever, dying]) == ["mail:help"]
    assert not forever.done()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await until_stopped_or_dead(stop, [forever]) == []
    await cancel_and_wait(forever)
