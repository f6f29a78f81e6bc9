"""Conversation evidence reads, grouped: the messages resolved together share one MGET.

A reply's In-Reply-To and References, a Slack message's thread: each message asks whether any of a few
keys names a conversation. Asked one by one, 64 concurrent Slack events cost 64 round trips, each its
own pooled connection, which made the look-up a fifth of a Slack event's CPU. Here, as in
gateway.group_commit and gateway.sender_lookups, callers put their keys on a list and wait on a future;
one task reads every waiting caller's keys with one MGET and answers each with its own values. While
that is in flight, the next batch gathers. A read that happens a little later than a lone MGET would
have is still a read before the commit, which is all the resolver relies on.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from gateway.redis_conn import text

MAX_KEYS = 1024  # per MGET: a batch stops growing at this many keys (a caller's keys stay together)

_Waiter = tuple[list[str], "asyncio.Future[list[str | None]]"]


class KeyReads:
    def __init__(self, client: aioredis.Redis, max_keys: int = MAX_KEYS) -> None:
        self.client = client
        self.max_keys = max_keys
        self._pending: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None

    async def get(self, keys: list[str]) -> list[str | None]:
        """The value at each key (None where there is none), in order, read with the other waiting callers'.

        Raises what the Redis client raised for the batch (a connection error fails every caller in it)."""
        fut: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, fut))
        if self._task is None:
            # Started by the first caller: every process that resolves conversations gets it, idle otherwise.
            self._task = asyncio.create_task(self._drain())
        return await fut

    def _take(self) -> list[_Waiter]:
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

    async def _drain(self) -> None:
        batch: list[_Waiter] = []
        try:
            while self._pending:
                batch = self._take()
                try:
                    values = await self.client.mget([k for wanted, _ in batch for k in wanted])
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                at = 0
                for wanted, fut in batch:
                    mine = values[at : at + len(wanted)]
                    at += len(wanted)
                    if not fut.done():  # else its caller went away
                        fut.set_result([None if v is None else text(v) for v in mine])
        except BaseException:
            # Cancelled (the loop is closing): nothing is left to answer whoever still waits.
            for _, fut in batch + self._pending:
                fut.cancel()
            self._pending.clear()
            raise
        finally:
            self._task = None
