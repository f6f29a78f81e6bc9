"""Group commit: concurrent requests share one Redis round trip (and one fsync).

Requests put their commitment on a list and wait on a future. One task takes everything waiting,
commits it in one pipelined round trip, and answers every future; while that round trip is in
flight, the next batch gathers. The commit runs on the event loop (redis.asyncio), so no thread
competes with request handling for the interpreter. When Redis cannot be reached the batch goes to
the local spool (SQLite, on a thread: it fsyncs), and a drainer replays the spool through the same
commit once Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis

from gateway.errors import Unavailable
from gateway.metrics import Metrics
from gateway.models import Commitment
from gateway.store.commit import CommitResult, Committer
from gateway.store.spool import Spool
from gateway.tasks import being_cancelled, stop_if_cancelled

log = logging.getLogger("intake.commit")

T = TypeVar("T")


REDIS_DOWN_BACKOFF_S = 1.0
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class GroupCommitter:
    def __init__(
        self, committer: Committer, spool: Spool, metrics: Metrics, max_batch: int, in_flight: int = 1
    ) -> None:
        self.committer = committer
        self.spool = spool
        self.metrics = metrics
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._pending: list[tuple[Commitment, asyncio.Future[CommitResult]]] = []
        self._wakeup = asyncio.Event()
        # The spool is touched from one thread only, so its writes are serialized.
        self._spool_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._redis_down_until = 0.0
        self.metrics.spool_depth.set(spool.depth)
        # Told (on the event loop, and it must return at once) after a batch committed something new: the live
        # dashboard's notice (gateway/dashboard/hub.py) hangs here.
        self.on_commit: Callable[[], None] | None = None

    @property
    def redis_up(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    def _mark_down(self) -> None:
        self._redis_down_until = time.monotonic() + REDIS_DOWN_BACKOFF_S
        self.metrics.redis_up.set(0)

    async def submit(self, commitment: Commitment) -> CommitResult:
        fut: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        self._pending.append((commitment, fut))
        self._wakeup.set()
        return await fut

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.in_flight)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    await slots.acquire()
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                    if not batch:  # another round trip took them while this one waited for a slot
                        slots.release()
                        break
                    task = asyncio.create_task(self._commit_batch(batch))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: slots.release())
        finally:
            for task in running:
                task.cancel()

    async def _commit_batch(self, batch: list[tuple[Commitment, asyncio.Future[CommitResult]]]) -> None:
        items = [c for c, _ in batch]
        try:
            results = await self._commit_or_spool(items)
        except Exception as exc:
            log.error("commit failed and the spool refused the batch", extra={"error": type(exc).__name__})
            for c, fut in batch:
                self.metrics.unavailable.labels(c.message.channel).inc()
                if not fut.done():
                    fut.set_exception(Unavailable("cannot store the message now; retry later"))
            return
        self.metrics.commit_batch.observe(len(items))
        fresh = False
        for (c, fut), r in zip(batch, results, strict=True):
            self._count(c, r)
            fresh = fresh or not (r.duplicate or r.spooled)
            if not fut.done():
                fut.set_result(r)
        if fresh and self.on_commit is not None:
            self.on_commit()

    def _count(self, c: Commitment, r: CommitResult) -> None:
        ch = c.message.channel
        if r.duplicate:
            self.metrics.child(self.metrics.duplicates, ch).inc()
        elif r.spooled:
            self.metrics.child(self.metrics.spooled, ch).inc()
        else:
            self.metrics.child(self.metrics.committed, ch).inc()

    async def _in_spool_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._spool_thread, fn, *args)

    async def _commit_or_spool(self, items: Sequence[Commitment]) -> list[CommitResult]:
        if self.redis_up:
            # While the spool holds messages, a provider's retry of one of them must get its first answer.
            already = (
                await self._in_spool_thread(self.spool.lookup, [c.fingerprint for c in items])
                if self.spool.depth
                else {}
            )
            fresh = [c for c in items if c.fingerprint not in already]
            try:
                committed = iter(await self.committer.commit(fresh)) if fresh else iter(())
                self.metrics.redis_up.set(1)
                return [
                    CommitResult(already[c.fingerprint], duplicate=True, spooled=True)
                    if c.fingerprint in already
                    else next(committed)
                    for c in items
                ]
            except REDIS_ERRORS as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                self._mark_down()
                log.warning("redis unreachable: spooling locally", extra={"error": type(exc).__name__})
        results: list[CommitResult] = await self._in_spool_thread(self.spool.put, items)
        self.metrics.spool_depth.set(self.spool.depth)
        return results

    async def drain_forever(self, interval: float = 1.0) -> None:
        """Replay the spool into Redis whenever Redis answers; rows go only after their commit."""
        while True:
            await asyncio.sleep(interval)
            if not self.spool.depth:
                continue
            try:
                moved = await self.drain_now()
            except REDIS_ERRORS as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                self._mark_down()
                continue
            stop_if_cancelled()
            if moved:
                log.info("spool drained", extra={"count": moved, "left": self.spool.depth})

    async def drain_now(self) -> int:
        moved = 0
        while True:
            rows = await self._in_spool_thread(self.spool.take, self.max_batch)
            if not rows:
                break
            await self.committer.commit([c for _, c in rows])
            await self._in_spool_thread(self.spool.remove, [seq for seq, _ in rows])
            moved += len(rows)
            self.metrics.drained.inc(len(rows))
            if self.on_commit is not None:
                self.on_commit()
        self._redis_down_until = 0.0
        self.metrics.redis_up.set(1)
        self.metrics.spool_depth.set(self.spool.depth)
        return moved

    def close(self) -> None:
        # Never block the event loop here: a spool write in progress still completes (the
        # interpreter joins executor threads at exit), and nothing new is accepted after close.
        self._spool_thread.shutdown(wait=False)
