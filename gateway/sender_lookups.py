"""Sender continuity reads, grouped: the texts that arrive together share one or two Redis round trips.

Each text asks for its sender's latest conversation on its district number (DESIGN.md section 4,
evidence 4), and for that conversation's status and last activity when there is one. Asked one by one,
64 concurrent texts cost 64 to 128 round trips, each its own connection from the pool and most of a
text's CPU. Here, like gateway.group_commit, callers put their key on a list and wait on a future; one
task takes everything waiting, reads all the keys with one MGET and the conversations it found with one
pipelined HMGET each, and answers every future. While that is in flight, the next batch gathers.

Reading a little later than a lone GET would have changes nothing a caller can tell: the read still
happens before the text is committed, and two texts of one sender in the same batch see the same state,
as they did when their GETs ran concurrently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway import keys
from gateway.redis_conn import text

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Latest:
    """A sender's latest conversation, as much of it as continuity needs ("" where a field is missing)."""

    conversation: str
    status: str
    last_activity: str


_Waiter = tuple[str, "asyncio.Future[Latest | None]"]


class SenderLookups:
    def __init__(self, client: aioredis.Redis, max_batch: int = MAX_BATCH) -> None:
        self.client = client
        self.max_batch = max_batch
        self._pending: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None

    async def latest(self, key: str) -> Latest | None:
        """The conversation stored at `key` (a keys.sms_latest key) with its status, or None when there is none.

        Raises what the Redis client raised for this text's reads (a connection error fails every waiter of
        its batch; an error about one conversation's hash fails only the texts that asked for it)."""
        fut: asyncio.Future[Latest | None] = asyncio.get_running_loop().create_future()
        self._pending.append((key, fut))
        if self._task is None:
            # Started from the first waiter rather than with the app: every process that resolves
            # conversations gets it, and nothing runs while no text is waiting.
            self._task = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        batch: list[_Waiter] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    await self._answer(batch)
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
        except BaseException:
            # Cancelled (the loop is closing): nothing is left to answer whoever still waits.
            for _, fut in batch + self._pending:
                fut.cancel()
            self._pending.clear()
            raise
        finally:
            self._task = None

    async def _answer(self, batch: list[_Waiter]) -> None:
        found = [None if c is None else text(c) for c in await self.client.mget([key for key, _ in batch])]
        wanted = list(dict.fromkeys(c for c in found if c is not None))
        details: dict[str, list[str | None] | Exception] = {}
        if wanted:
            async with self.client.pipeline(transaction=False) as pipe:
                for conv in wanted:
                    pipe.hmget(keys.conversation(conv), ["status", "last_activity"])
                details = dict(zip(wanted, await pipe.execute(raise_on_error=False), strict=True))
        for (_, fut), conv_id in zip(batch, found, strict=True):
            if fut.done():
                continue  # its caller went away
            if conv_id is None:
                fut.set_result(None)
                continue
            answer = details[conv_id]
            if isinstance(answer, Exception):
                fut.set_exception(answer)  # this conversation's hash only: the rest of the batch is answered
                continue
            status, last = answer
            fut.set_result(Latest(conv_id, text(status or ""), text(last or "")))
