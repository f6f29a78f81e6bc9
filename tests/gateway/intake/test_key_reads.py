"""Conversation evidence reads grouped into one MGET, against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis

from gateway.intake.key_reads import KeyReads
from tests.support.redis_server import RedisServer


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
    yield c
    await c.aclose()


async def calls(client: aioredis.Redis, command: str) -> int:
    stats = await client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_sixty_four_concurrent_callers_share_one_mget_and_each_gets_its_own_values(
    client: aioredis.Redis,
) -> None:
    for i in range(0, 64, 3):
        await client.set(f"thread:{i}", f"conv-{i}")
    await client.config_resetstat()
    reads = KeyReads(client)
    # Callers ask for different numbers of keys, and some keys more than once.
    asked = [[f"thread:{i}"] + ([f"thread:{i + 1}", f"thread:{i}"] if i % 2 else []) for i in range(64)]
    found = await asyncio.gather(*(reads.get(k) for k in asked))
    expected = [[f"conv-{int(k.split(':')[1])}" if int(k.split(":")[1]) % 3 == 0 else None for k in ks] for ks in asked]
    assert found == expected
    assert await calls(client, "mget") == 1
    assert await calls(client, "get") == 0


async def test_a_batch_stops_growing_at_the_key_limit_but_keeps_each_callers_keys_together(
    client: aioredis.Redis,
) -> None:
    await client.set("k:7", "here")
    await client.config_resetstat()
    reads = KeyReads(client, max_keys=10)
    found = await asyncio.gather(*(reads.get([f"k:{i}", f"k:{i + 1}", f"k:{i + 2}"]) for i in range(0, 30, 3)))
    assert found[2] == [None, "here", None]  # k:6, k:7, k:8
    assert all(values == [None, None, None] for n, values in enumerate(found) if n != 2)
    assert await calls(client, "mget") == 4  # 3 callers (9 keys) per MGET: 3 + 3 + 3 + 1


async def test_a_caller_with_more_keys_than_the_limit_is_still_answered(client: aioredis.Redis) -> None:
    reads = KeyReads(client, max_keys=4)
    assert await reads.get([f"none:{i}" for i in range(9)]) == [None] * 9


async def test_redis_away_fails_every_caller_of_the_batch_and_the_next_batch_is_read_again(
    client: aioredis.Redis, redis_server: RedisServer
) -> None:
    reads = KeyReads(client)
    redis_server.stop()
    results = await asyncio.gather(*(reads.get([f"x:{i}"]) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, (redis.ConnectionError, OSError)) for r in results)
    redis_server.start()
    await client.set("x:1", "back")
    assert await reads.get(["x:0", "x:1"]) == [None, "back"]


async def test_a_caller_that_went_away_does_not_stop_the_others(client: aioredis.Redis) -> None:
    await client.set("y:1", "kept")
    reads = KeyReads(client)
    gone = asyncio.create_task(reads.get(["y:0"]))
    stays = asyncio.create_task(reads.get(["y:1"]))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays == ["kept"]
    assert gone.cancelled()
