"""Conversation evidence reads, grouped: the messages resolved together share one MGET.

A reply's In-Reply-To and References, a Slack message's thread: each message asks whether any of a few
keys names a conversation. Asked one by one, 64 concurrent Slack events cost 64 round trips, each its
own pooled connection, which made the look-up a fifth of a Slack event's CPU. Here (gateway.read_batches)
every waiting caller's keys are read with one MGET and each caller gets its own values. A read that
happens a little later than a lone MGET would have is still a read before the commit, which is all the
resolver relies on.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from gateway.intake.read_batches import ReadBatcher
from gateway.store.redis_conn import text

MAX_KEYS = 1024  # per MGET: a batch stops growing at this many keys (a caller's keys stay together)


class KeyReads(ReadBatcher[list[str], list[str | None]]):
    def __init__(self, client: aioredis.Redis, max_keys: int = MAX_KEYS) -> None:
        super().__init__()
        self.client = client
        self.max_keys = max_keys

    async def get(self, keys: list[str]) -> list[str | None]:
        """The value at each key (None where there is none), in order, read with the other waiting callers'.

        Raises what the Redis client raised for the batch (a connection error fails every caller in it)."""
        return await self.ask(keys)

    def _take(self) -> list[tuple[list[str], asyncio.Future[list[str | None]]]]:
        size = 0
        count = 0
        for wanted, _ in self._pending:
            if count and size + len(wanted) > self.max_keys:
                break
            size += len(wanted)
            count += 1
        batch = self._pending[:count]
        del self._pending[:count]
        return batch

    async def _answer(self, batch: list[tuple[list[str], asyncio.Future[list[str | None]]]]) -> None:
        values = await self.client.mget([k for wanted, _ in batch for k in wanted])
        at = 0
        for wanted, fut in batch:
            mine = values[at : at + len(wanted)]
            at += len(wanted)
            if not fut.done():  # else its caller went away
                fut.set_result([None if v is None else text(v) for v in mine])
