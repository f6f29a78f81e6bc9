"""Sender continuity reads grouped into one MGET (and one pipelined HMGET), against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.intake.sender_lookups import Latest, SenderLookups
from tests.support.redis_server import RedisServer

LAST = "2025-03-04T07:10:00+00:00"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
    yield c
    await c.aclose()


def latest_key(i: int) -> str:
    return keys.sms_latest("main", f"{i:032x}")


async def calls(client: aioredis.Redis, command: str) -> int:
    stats = await client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_sixty_four_concurrent_lookups_cost_one_mget_and_answer_each_its_own(client: aioredis.Redis) -> None:
    for i in range(0, 64, 2):  # every other sender has a conversation
        await client.set(latest_key(i), f"conv-{i}")
        await client.hset(keys.conversation(f"conv-{i}"), mapping={"status": "open", "last_activity": LAST})
    await client.config_resetstat()
    lookups = SenderLookups(client)
    found = await asyncio.gather(*(lookups.latest(latest_key(i)) for i in range(64)))
    assert found == [Latest(f"conv-{i}", "open", LAST) if i % 2 == 0 else None for i in range(64)]
    assert await calls(client, "mget") == 1
    assert await calls(client, "get") == 0
    assert await calls(client, "hmget") == 32


async def test_texts_of_one_sender_in_one_batch_read_the_conversation_once(client: aioredis.Redis) -> None:
    await client.set(latest_key(1), "conv-1")
    await client.hset(keys.conversation("conv-1"), mapping={"status": "resolved", "last_activity": LAST})
    await client.config_resetstat()
    lookups = SenderLookups(client)
    found = await asyncio.gather(*(lookups.latest(latest_key(1)) for _ in range(5)))
    assert found == [Latest("conv-1", "resolved", LAST)] * 5
    assert await calls(client, "hmget") == 1


async def test_a_conversation_without_its_hash_answers_empty_fields(client: aioredis.Redis) -> None:
    await client.set(latest_key(2), "conv-gone")
    assert await SenderLookups(client).latest(latest_key(2)) == Latest("conv-gone", "", "")


async def test_a_batch_larger_than_the_maximum_is_split(client: aioredis.Redis) -> None:
    await client.config_resetstat()
    lookups = SenderLookups(client, max_batch=10)
    found = await asyncio.gather(*(lookups.latest(latest_key(i)) for i in range(25)))
    assert found == [None] * 25
    assert await calls(client, "mget") == 3


async def test_a_broken_conversation_hash_fails_only_the_texts_that_asked_for_it(client: aioredis.Redis) -> None:
    await client.set(latest_key(3), "conv-3")
    await client.set(keys.conversation("conv-3"), "not a hash")
    await client.set(latest_key(4), "conv-4")
    await client.hset(keys.conversation("conv-4"), mapping={"status": "open", "last_activity": LAST})
    lookups = SenderLookups(client)
    broken, fine = await asyncio.gather(
        lookups.latest(latest_key(3)), lookups.latest(latest_key(4)), return_exceptions=True
    )
    assert isinstance(broken, redis.ResponseError) and "WRONGTYPE" in str(broken)
    assert fine == Latest("conv-4", "open", LAST)


async def test_redis_going_away_fails_every_waiter_and_the_next_batch_reads_again(
    client: aioredis.Redis, redis_server: RedisServer
) -> None:
    await client.set(latest_key(5), "conv-5")
    lookups = SenderLookups(client)
    redis_server.stop()
    failed = await asyncio.gather(*(lookups.latest(latest_key(i)) for i in range(8)), return_exceptions=True)
    assert all(isinstance(f, redis.ConnectionError) for f in failed)
    redis_server.start()  # appendonly: the key survived the restart
    assert await lookups.latest(latest_key(5)) == Latest("conv-5", "", "")


async def test_a_waiter_that_gives_up_does_not_stop_the_others(client: aioredis.Redis) -> None:
    await client.set(latest_key(6), "conv-6")
    lookups = SenderLookups(client)
    impatient = asyncio.create_task(lookups.latest(latest_key(6)))
    patient = asyncio.create_task(lookups.latest(latest_key(6)))
    await asyncio.sleep(0)  # both are waiting on the same batch
    impatient.cancel()
    assert await patient == Latest("conv-6", "", "")
    assert impatient.cancelled()
