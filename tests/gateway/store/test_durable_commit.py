"""Nothing lost, nothing doubled: Redis outages, the local spool, concurrent web processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from gateway import keys
from gateway.settings import RateLimitSettings, Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def spool_rows(settings: Settings) -> int:
    db = sqlite3.connect(settings.path_in_data("spool.sqlite3"))
    try:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
    finally:
        db.close()


def ticket_count(settings: Settings) -> int:
    return BuiltinBackend.from_settings(settings).count()


async def test_redis_down_spools_acks_then_drains_into_exactly_one_ticket_each(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    before = await gateway.post_form(form(message="before the outage"), key="before")
    assert before.status == 202
    redis_server.stop(kill=True)

    during = [await gateway.post_form(form(message=f"during outage {i}"), key=f"during-{i}") for i in range(5)]
    assert [r.status for r in during] == [202] * 5
    ids = [(await r.json())["request_id"] for r in during]
    # A provider retry while Redis is still down is answered with the same id, not spooled twice.
    retry = await gateway.post_form(form(message="during outage 0"), key="during-0")
    assert (await retry.json())["request_id"] == ids[0]
    assert spool_rows(gateway.settings) == 5

    redis_server.start()
    await wait_for(lambda: spool_rows(gateway.settings) == 0)
    # After the drain, a late retry of a spooled message is still the same request.
    late = await gateway.post_form(form(message="during outage 3"), key="during-3")
    assert (await late.json())["request_id"] == ids[3]

    assert intake(config_path, "worker", "--burst").returncode == 0
    assert ticket_count(gateway.settings) == 6


async def test_spooled_messages_survive_a_web_process_restart(
    settings: Settings, redis_server: RedisServer, config_path: Path
) -> None:
    redis_server.stop()
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    for i in range(3):
        assert (await gw.post_form(form(message=f"spooled {i}"), key=f"s-{i}")).status == 202
    await http.close()
    await server.close()  # the process goes away with Redis still down

    redis_server.start()
    server, http = await start_gateway(settings)  # a new process finds the spool and drains it
    try:
        await wait_for(lambda: spool_rows(settings) == 0)
    finally:
        await http.close()
        await server.close()
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert ticket_count(settings) == 3


async def test_when_neither_redis_nor_the_spool_can_store_the_answer_is_503(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    redis_server.stop(kill=True)
    spool = gateway.settings.path_in_data("spool.sqlite3")
    # Hold the spool's write lock so the spool cannot take the message either.
    blocker = sqlite3.connect(spool, timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        resp = await gateway.post_form(form(), key="nowhere")
        assert resp.status == 503
        assert (await resp.json())["error"] == "unavailable"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert spool_rows(gateway.settings) == 0


async def test_two_web_processes_racing_on_one_key_make_one_request(
    settings: Settings, redis_server: RedisServer
) -> None:
    (s1, h1), (s2, h2) = await start_gateway(settings), await start_gateway(settings)
    a, b = Gateway(s1, h1, settings), Gateway(s2, h2, settings)
    try:
        posts = [g.post_form(form(), key=f"race-{n}") for n in range(20) for g in (a, b, a)]
        responses = await asyncio.gather(*posts)
        assert {r.status for r in responses} == {202}
        by_key: dict[str, set[str]] = {}
        for i, r in enumerate(responses):
            by_key.setdefault(f"race-{i // 3}", set()).add((await r.json())["request_id"])
        assert all(len(v) == 1 for v in by_key.values())
        assert redis_server.client().llen("rq:queue:deliver-builtin") == 20
    finally:
        for h, s in ((h1, s1), (h2, s2)):
            await h.close()
            await s.close()


async def test_an_acknowledged_message_survives_a_redis_crash(gateway: Gateway, redis_server: RedisServer) -> None:
    resp = await gateway.post_form(form(), key="fsynced")
    assert resp.status == 202
    redis_server.stop(kill=True)  # SIGKILL: only what was fsync'd to the AOF survives
    redis_server.start()
    assert redis_server.client().llen("rq:queue:deliver-builtin") == 1
    assert os.path.getsize(next((redis_server.dir / "appendonlydir").glob("*.incr.aof"))) > 0


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_commit_round_trips_in_flight_are_bounded_by_the_setting(
    settings: Settings, redis_server: RedisServer, in_flight: int
) -> None:
    """A message that just missed a batch starts its own round trip while one is in flight, up to the limit."""
    server_settings = settings.server.model_copy(update={"commits_in_flight": in_flight})
    patient = settings.redis.model_copy(update={"socket_timeout_s": 5.0})  # the pause is not an outage
    # The abuse limits' script is a Redis client that writes too: paused, it would be counted among the blocked.
    unlimited = RateLimitSettings(form_per_client="off", hook_per_client="off", per_address="off")
    tuned = settings.model_copy(update={"server": server_settings, "redis": patient, "rate_limits": unlimited})
    server, http = await start_gateway(tuned)
    gw = Gateway(server, http, tuned)
    admin = redis_server.client()
    notices = admin.pubsub(ignore_subscribe_messages=True)
    notices.subscribe(keys.DASH_CHANGES)
    try:
        assert (await gw.post_form(form(message="warm up"), key="warm")).status == 202
        # The dashboard's notice of the warm-up (a PUBLISH, which a write pause holds too) is out before the pause.
        deadline = time.monotonic() + 30
        while notices.get_message(timeout=0) is None:
            assert time.monotonic() < deadline, "the warm-up's dashboard notice never came"
            await asyncio.sleep(0.02)
        admin.execute_command("CLIENT", "PAUSE", "1000", "WRITE")  # commit scripts wait inside Redis
        posts = []
        for i in range(3):
            posts.append(asyncio.create_task(gw.post_form(form(message=f"paused {i}"), key=f"paused-{i}")))
            await asyncio.sleep(0.15)  # each arrives after the previous one's batch was sent
        blocked = int(admin.info("clients")["blocked_clients"])
        answers = await asyncio.gather(*posts)
        assert blocked == in_flight
        assert [r.status for r in answers] == [202] * 3
        assert len({(await r.json())["request_id"] for r in answers}) == 3
        assert spool_rows(tuned) == 0  # committed to Redis once the pause ended, not spooled
    finally:
        admin.close()
        await http.close()
        await server.close()


async def test_retries_arriving_while_the_spool_drains_are_answered_with_their_first_request_id(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    """Providers retry while the spool drains: each retry is the request it was first answered as, whether its
    row is still spooled, being committed, or already in Redis, and nothing is spooled twice."""
    redis_server.stop(kill=True)
    first = await asyncio.gather(*(gateway.post_form(form(message=f"queued {i}"), key=f"q-{i}") for i in range(40)))
    ids = {f"q-{i}": (await r.json())["request_id"] for i, r in enumerate(first)}
    redis_server.start()
    rounds = 0
    while spool_rows(gateway.settings) or rounds < 3:
        rounds += 0 if spool_rows(gateway.settings) else 1
        for key, request_id in ids.items():
            again = await gateway.post_form(form(message=f"queued {key[2:]}"), key=key)
            assert again.status == 202
            assert (await again.json())["request_id"] == request_id, f"a retry of {key} was given a new id"
    assert redis_server.client().llen("rq:queue:deliver-builtin") == 40


async def test_after_a_redis_restart_a_retry_finds_its_request_though_the_pool_held_dead_connections(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    """A Redis restart leaves every pooled connection dead; the first command on each must not read as an outage
    (that would spool the retry of a message Redis holds, and answer it with a new request id)."""
    first = await asyncio.gather(*(gateway.post_form(form(message=f"first {i}"), key=f"k-{i}") for i in range(12)))
    ids = [(await r.json())["request_id"] for r in first]
    admin = redis_server.client()
    try:
        # Several connections in the gateway's pool (the admin's own is one more).
        assert int(admin.info("clients")["connected_clients"]) >= 3
    finally:
        admin.close()
    redis_server.stop(kill=True)
    redis_server.start()
    for i in range(12):
        again = await gateway.post_form(form(message=f"first {i}"), key=f"k-{i}")
        assert again.status == 202
        assert (await again.json())["request_id"] == ids[i], f"retry {i} was answered as a new request"
    assert spool_rows(gateway.settings) == 0
