"""Group commit: concurrent requests share one Redis round trip (and one fsync).

Requests put their commitment on a list and wait on a future. One commit thread takes everything
waiting, commits it in one transaction, and answers every future; while it works, the next batch
gathers. When Redis cannot be reached the batch goes to the local spool instead, and a drainer
replays the spool through the same commit once Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import redis

from gateway.commit import CommitResult, Committer
from gateway.errors import Unavailable
from gateway.metrics import Metrics
from gateway.models import Commitment
from gateway.spool import Spool

log = logging.getLogger("intake.commit")

REDIS_DOWN_BACKOFF_S = 1.0


class GroupCommitter:
    def __init__(self, committer: Committer, spool: Spool, metrics: Metrics, max_batch: int) -> None:
        self.committer = committer
        self.spool = spool
        self.metrics = metrics
        self.max_batch = max_batch
        self._pending: list[tuple[Commitment, asyncio.Future[CommitResult]]] = []
        self._wakeup = asyncio.Event()
        # One thread: batches are serialized, so the spool and the commit never race each other.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._redis_down_until = 0.0
        self.metrics.spool_depth.set(spool.depth)

    @property
    def redis_up(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    async def submit(self, commitment: Commitment) -> CommitResult:
        fut: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        self._pending.append((commitment, fut))
        self._wakeup.set()
        return await fut

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                items = [c for c, _ in batch]
                try:
                    results = await loop.run_in_executor(self._thread, self._commit_or_spool, items)
                except Exception as exc:
                    log.error("commit failed and the spool refused the batch", extra={"error": type(exc).__name__})
                    for c, fut in batch:
                        self.metrics.unavailable.labels(c.message.channel).inc()
                        if not fut.done():
                            fut.set_exception(Unavailable("cannot store the message now; retry later"))
                    continue
                self.metrics.commit_batch.observe(len(items))
                for (c, fut), r in zip(batch, results, strict=True):
                    self._count(c, r)
                    if not fut.done():
                        fut.set_result(r)

    def _count(self, c: Commitment, r: CommitResult) -> None:
        ch = c.message.channel
        if r.duplicate:
            self.metrics.duplicates.labels(ch).inc()
        elif r.spooled:
            self.metrics.spooled.labels(ch).inc()
        else:
            self.metrics.committed.labels(ch).inc()

    def _commit_or_spool(self, items: Sequence[Commitment]) -> list[CommitResult]:
        """Runs on the commit thread."""
        if self.redis_up:
            already = self.spool.lookup([c.fingerprint for c in items])
            fresh = [c for c in items if c.fingerprint not in already]
            try:
                committed = iter(self.committer.commit(fresh)) if fresh else iter(())
                self.metrics.redis_up.set(1)
                return [
                    CommitResult(already[c.fingerprint], duplicate=True, spooled=True)
                    if c.fingerprint in already
                    else next(committed)
                    for c in items
                ]
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._redis_down_until = time.monotonic() + REDIS_DOWN_BACKOFF_S
                self.metrics.redis_up.set(0)
                log.warning("redis unreachable: spooling locally", extra={"error": type(exc).__name__})
        results = self.spool.put(items)
        self.metrics.spool_depth.set(self.spool.depth)
        return results

    async def drain_forever(self, interval: float = 1.0) -> None:
        """Replay the spool into Redis whenever Redis answers; rows go only after their commit."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            if not self.spool.depth:
                continue
            try:
                moved = await loop.run_in_executor(self._thread, self.drain_once)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self._redis_down_until = time.monotonic() + REDIS_DOWN_BACKOFF_S
                self.metrics.redis_up.set(0)
                continue
            if moved:
                log.info("spool drained", extra={"count": moved, "left": self.spool.depth})

    def drain_once(self) -> int:
        moved = 0
        while True:
            rows = self.spool.take(self.max_batch)
            if not rows:
                break
            self.committer.commit([c for _, c in rows])
            self.spool.remove([seq for seq, _ in rows])
            moved += len(rows)
            self.metrics.drained.inc(len(rows))
        self._redis_down_until = 0.0
        self.metrics.redis_up.set(1)
        self.metrics.spool_depth.set(self.spool.depth)
        return moved

    def close(self) -> None:
        self._thread.shutdown(wait=True)
