"""Rate limits shared by every web process: GCRA buckets in Redis, checked in batches, soft state.

Each bucket allows `count` requests per `period_s`, all at once or spread out, and refills steadily
(the generic cell rate algorithm: one timestamp per bucket, the "theoretical arrival time"). A request
names several buckets (its client, its addresses) and passes only if every one has room; a refused
request consumes none.

Cheap on the request path, three ways:
- Concurrent checks share one round trip: whatever arrives while a script is in flight goes in the
  next, as the group commit does for messages.
- The script tells Redis not to propagate its writes (`redis.set_repl(redis.REPL_NONE)`), so a limit
  never costs an AOF write or an fsync; the buckets are soft state, lost on a restart or a failover
  (which only forgives everyone once).
- A bucket found full is remembered in this process until it refills: a flood from one client is
  answered without asking Redis again.

When Redis cannot answer, requests are let through (the spool still takes them): a limit must never
turn an outage into lost messages.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from gateway.tasks import being_cancelled

log = logging.getLogger("intake.limits")

# ARGV[1] is the whole batch in one string, space-separated: the number of requests, then per request its
# number of buckets and, per bucket, its key, its emission interval and its period (microseconds). One
# argument instead of four per bucket: redis-py encodes each argument on its own, and that cost more than the
# script. (The keys are not declared in KEYS, which only Redis Cluster needs; rq does not run on Cluster.)
# Returns per request the microseconds to wait (0: allowed, and every bucket consumed) and the index of
# the bucket that refills last.
GCRA_SCRIPT = """
redis.set_repl(redis.REPL_NONE)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local words = {}
for w in string.gmatch(ARGV[1], '%S+') do words[#words + 1] = w end
local out = {}
local i = 2
for r = 1, tonumber(words[1]) do
  local n = tonumber(words[i])
  i = i + 1
  local wait, worst, tats = 0, 0, {}
  for b = 0, n - 1 do
    local key, interval, period = words[i + 3 * b], tonumber(words[i + 3 * b + 1]), tonumber(words[i + 3 * b + 2])
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
    tats[b] = tat + interval
    local over = tats[b] - now - period
    if over > wait then wait, worst = over, b end
  end
  if wait == 0 then
    for b = 0, n - 1 do
      redis.call('SET', words[i + 3 * b], string.format('%d', tats[b]), 'PX', math.ceil((tats[b] - now) / 1000))
    end
  end
  out[#out + 1] = math.ceil(wait)
  out[#out + 1] = worst
  i = i + 3 * n
end
return out
"""

DOWN_BACKOFF_S = 1.0  # after a failure, Redis is not asked again (requests pass) for this long
MAX_BATCH = 256
MAX_REMEMBERED = 10_000  # full buckets remembered locally; past this the list starts again


@dataclass(frozen=True)
class Rate:
    """`count` requests per `period_s`."""

    count: int
    period_s: float

    @property
    def interval_us(self) -> int:
        return max(1, round(self.period_s * 1_000_000 / self.count))

    @property
    def period_us(self) -> int:
        return round(self.period_s * 1_000_000)

    @functools.cached_property
    def words(self) -> str:
        """Its emission interval and period as the script reads them."""
        return f"{self.interval_us} {self.period_us}"


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate: Rate
    kind: str = ""  # what it counts, for the refusal's wording


@dataclass(frozen=True, slots=True)
class Verdict:
    wait_s: float = 0.0  # 0.0: allowed, and counted against every bucket
    full: Bucket | None = None  # the bucket that refused it (the one that refills last)


ALLOWED = Verdict()


class RateLimiter:
    def __init__(self, client: aioredis.Redis) -> None:
        self._script = client.register_script(GCRA_SCRIPT)
        self._pending: list[tuple[Sequence[Bucket], asyncio.Future[Verdict]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._full_until: dict[str, tuple[float, Bucket]] = {}  # key -> (monotonic time it has room again, it)
        self._down_until = 0.0

    async def check(self, buckets: Sequence[Bucket]) -> Verdict:
        """Allowed (and counted against every bucket), or how long until it would be and which bucket is full."""
        if not buckets:
            return ALLOWED
        now = time.monotonic()
        for b in buckets:
            until, full = self._full_until.get(b.key, (0.0, b))
            if until > now:
                return Verdict(until - now, full)
        if now < self._down_until:
            return ALLOWED
        fut: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._pending.append((buckets, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # the other requests of this turn of the loop join the batch
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                answers = await self._run(batch)
            except (redis.RedisError, OSError) as exc:
                if being_cancelled():
                    for _, fut in batch:
                        fut.cancel()
                    raise asyncio.CancelledError from exc
                if time.monotonic() >= self._down_until:
                    log.warning("rate limits unchecked: redis did not answer", extra={"error": type(exc).__name__})
                self._down_until = time.monotonic() + DOWN_BACKOFF_S
                answers = [(0, 0)] * len(batch)
            now = time.monotonic()
            for (buckets, fut), (wait_us, worst) in zip(batch, answers, strict=True):
                verdict = Verdict(wait_us / 1_000_000, buckets[worst]) if wait_us > 0 else ALLOWED
                if verdict.full is not None:
                    self._remember(verdict.full, now + verdict.wait_s)
                if not fut.done():
                    fut.set_result(verdict)

    async def _run(self, batch: list[tuple[Sequence[Bucket], asyncio.Future[Verdict]]]) -> list[tuple[int, int]]:
        words = [str(len(batch))]
        for buckets, _ in batch:
            words.append(str(len(buckets)))
            for b in buckets:
                words += (b.key, b.rate.words)
        flat = await self._script(args=[" ".join(words)])
        return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def _remember(self, bucket: Bucket, until: float) -> None:
        if len(self._full_until) >= MAX_REMEMBERED:
            now = time.monotonic()
            self._full_until = {k: v for k, v in self._full_until.items() if v[0] > now}
            if len(self._full_until) >= MAX_REMEMBERED:
                self._full_until.clear()
        self._full_until[bucket.key] = (until, bucket)


def retry_after(wait_s: float) -> int:
    """Whole seconds for a Retry-After header: never 0 for a refusal."""
    return max(1, math.ceil(wait_s))
