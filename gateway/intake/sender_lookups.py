"""Sender continuity reads, grouped: the texts that arrive together share one or two Redis round trips.

Each text asks for its sender's latest conversation on its district number (DESIGN.md section 4,
evidence 4), and for that conversation's status and last activity when there is one. Asked one by one,
64 concurrent texts cost 64 to 128 round trips, each its own connection from the pool and most of a
text's CPU. Here (gateway.read_batches) the texts waiting together are read at once: all their keys
with one MGET, and the conversations found with one pipelined HMGET each.

Reading a little later than a lone GET would have changes nothing a caller can tell: the read still
happens before the text is committed, and two texts of one sender in the same batch see the same state,
as they did when their GETs ran concurrently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway import keys
from gateway.intake.read_batches import ReadBatcher
from gateway.store.redis_conn import text

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Latest:
    """A sender's latest conversation, as much of it as continuity needs ("" where a field is missing)."""

    conversation: str
    status: str
    last_activity: str


_Waiter = tuple[str, "asyncio.Future[Latest | None]"]


class SenderLookups(ReadBatcher[str, "Latest | None"]):
    def __init__(self, client: aioredis.Redis, max_batch: int = MAX_BATCH) -> None:
        super().__init__()
        self.client = client
        self.max_batch = max_batch

    async def latest(self, key: str) -> Latest | None:
        """The conversation stored at `key` (a keys.sms_latest key) with its status, or None when there is none.

        Raises what the Redis client raised for this text's reads (a connection error fails every waiter of
        its batch; an error about one conversation's hash fails only the texts that asked for it)."""
        return await self.ask(key)

    def _take(self) -> list[_Waiter]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch

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
