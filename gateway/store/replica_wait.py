"""Running the commit script so that its 2xx means the write is on a replica too, not only on the primary.

With `redis.wait_replicas` above 0 the script and `WAIT <n> <timeout>` travel in one pipelined round trip. When
fewer replicas acknowledged in time, the batch is not durable: the primary could fail over to a replica that
never saw it. `NotReplicated` then sends it to the local spool, like an outage; the spool's replay goes through
the same duplicate check, so a write the primary kept is not made twice and one it lost is made again.

Not WAITAOF (Redis 7.2+), which also waits for the replica's fsync: measured against a real Redis 8.2 primary and
replica (bench/replica_wait.py), a replica reports what it has fsync'd before the fsync of the write that came
with the question, so a WAITAOF pipelined behind its write counted no replica for 75% of the writes (each would
wait out the timeout and go to the spool), and one sent a round trip later still missed 0.2-0.7%; WAIT missed
none. Replicas run `appendfsync always`: a write WAIT saw on a replica is on its disk within that replica's next
pass of its event loop.

A new primary after a failover has an empty script cache (replicas get the script's effects, not the script):
the NOSCRIPT answer is met by sending the script itself once, in the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


class NotReplicated(redis.ConnectionError):
    """Fewer replicas than `redis.wait_replicas` acknowledged a commit in time: it is treated as not stored.

    A ConnectionError so that everything that already sends an unreachable Redis's messages to the spool
    (gateway.store.redis_conn.unavailable) sends these there too."""


class ReplicaWait:
    """The WAIT that follows a commit script."""

    def __init__(self, client: aioredis.Redis, script: AsyncScript, replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.script = script
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    async def run(self, args: Sequence[Any]) -> Any:
        """Run the commit script with `args`; return its answer only once enough replicas hold its writes."""
        if not self.replicas:
            return await self.script(keys=[], args=list(args))
        answer, acked = await self._round_trip("EVALSHA", self.script.sha, args)
        if isinstance(answer, redis.exceptions.NoScriptError):
            answer, acked = await self._round_trip("EVAL", self.script.script, args)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.replicas:
            raise NotReplicated(f"{int(acked)} of {self.replicas} replica(s) acknowledged within {self.timeout_ms} ms")
        return answer

    async def _round_trip(self, command: str, script: Any, args: Sequence[Any]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command(command, script, 0, *args)
        pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
        answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers
