"""Running the commit script so that its 2xx means the write is on a replica too, not only on the primary.

With `redis.wait_replicas` above 0 the script and `WAIT <n> <timeout>` (or `WAITAOF 0 <n> <timeout>` where
the server has it, Redis 7.2+: the replicas have fsync'd it to their own AOF) travel in one pipelined round
trip. When fewer replicas acknowledged in time, the batch is not durable: the primary could fail over to a
replica that never saw it. `NotReplicated` then sends it to the local spool, like an outage; the spool's
replay goes through the same duplicate check, so a write the primary kept is not made twice and one it lost
is made again.

A new primary after a failover has an empty script cache (replicas get the script's effects, not the script):
the NOSCRIPT answer is met by sending the script itself once, in the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from gateway.store.redis_conn import text


class NotReplicated(redis.ConnectionError):
    """Fewer replicas than `redis.wait_replicas` acknowledged a commit in time: it is treated as not stored.

    A ConnectionError so that everything that already sends an unreachable Redis's messages to the spool
    (gateway.store.redis_conn.unavailable) sends these there too."""


WAITAOF_SINCE = (7, 2)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())


class ReplicaWait:
    """The WAIT that follows a commit script, and whether the server can WAITAOF instead."""

    def __init__(self, client: aioredis.Redis, script: AsyncScript, replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.script = script
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.waitaof: bool | None = None  # asked of the server at the first commit

    async def run(self, args: Sequence[Any]) -> Any:
        """Run the commit script with `args`; return its answer only once enough replicas hold its writes."""
        if not self.replicas:
            return await self.script(keys=[], args=list(args))
        if self.waitaof is None:
            info = await self.client.info("server")
            self.waitaof = version_tuple(text(info.get("redis_version", "0"))) >= WAITAOF_SINCE
        answer, acked = await self._round_trip("EVALSHA", self.script.sha, args)
        if isinstance(answer, redis.exceptions.NoScriptError):
            answer, acked = await self._round_trip("EVAL", self.script.script, args)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(acked, redis.ResponseError) and "unknown command" in str(acked).lower() and self.waitaof:
            self.waitaof = False  # a server older than it said, or replaced by one in a failover
            raise NotReplicated("WAITAOF is not known to this Redis: the next commit uses WAIT")
        if isinstance(acked, Exception):
            raise acked
        count = int(acked[1]) if isinstance(acked, list) else int(acked)
        if count < self.replicas:
            raise NotReplicated(f"{count} of {self.replicas} replica(s) acknowledged within {self.timeout_ms} ms")
        return answer

    async def _round_trip(self, command: str, script: Any, args: Sequence[Any]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command(command, script, 0, *args)
        if self.waitaof:
            pipe.execute_command("WAITAOF", 0, self.replicas, self.timeout_ms)
        else:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
        answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers
