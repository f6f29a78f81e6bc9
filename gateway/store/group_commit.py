"""Group commit: concurrent requests share one Redis round trip (and one fsync).

Requests put their commitment on a list and wait on a future. One task takes everything waiting,
commits it in one pipelined round trip, and answers every future; while that round trip is in
flight, the next batch gathers. The commit runs on the event loop (redis.asyncio), so no thread
competes with request handling for the interpreter.

A message handed over here is visible to threading at once (gateway.intake.uncommitted), until its
commit has answered: a message resolved after it, in the same batch or the next, joins its conversation.

When Redis cannot take the batch (unreachable, or refusing writes: out of memory, a failed disk, a
read-only replica) the batch goes to the local spool (SQLite, on a thread: it fsyncs), and a drainer
replays the spool through the same commit once Redis takes writes again, threading each message then,
in the order it came. While the spool holds messages, new ones join it behind them, so that no message
is threaded before one that came earlier; a message not threaded at intake (Redis was away) always goes
to the spool.
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
from gateway.intake.conversations import ConversationResolver, Resolution, thread_facts
from gateway.intake.uncommitted import Entry
from gateway.metrics import Metrics
from gateway.models import Commitment
from gateway.store.commit import CommitResult, Committer
from gateway.store.redis_conn import unavailable
from gateway.store.spool import Spool, Submission
from gateway.tasks import being_cancelled, stop_if_cancelled

log = logging.getLogger("intake.commit")

T = TypeVar("T")


REDIS_DOWN_BACKOFF_S = 1.0


class _Waiter:
    __slots__ = ("commitment", "entry", "fut", "resolved", "threaded_only")

    def __init__(
        self,
        commitment: Commitment,
        resolved: bool,
        threaded_only: str,
        entry: Entry | None,
        fut: asyncio.Future[CommitResult],
    ) -> None:
        self.commitment = commitment
        self.resolved = resolved
        self.threaded_only = threaded_only
        self.entry = entry
        self.fut = fut


class GroupCommitter:
    def __init__(
        self,
        committer: Committer,
        spool: Spool,
        metrics: Metrics,
        max_batch: int,
        resolver: ConversationResolver,
        in_flight: int = 1,
    ) -> None:
        self.committer = committer
        self.spool = spool
        self.metrics = metrics
        self.max_batch = max_batch
        self.in_flight = in_flight
        self.resolver = resolver  # threads spooled messages as they drain
        self.uncommitted = resolver.uncommitted
        self._pending: list[_Waiter] = []
        self._wakeup = asyncio.Event()
        # The spool is touched from one thread only, so its writes are serialized.
        self._spool_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._redis_down_until = 0.0
        # Held while a batch is checked against Redis and spooled, and while drained rows are committed and
        # removed: a retry is then found in one place or the other, never checked in Redis before its row commits
        # and looked for in the spool after the row is gone (it would be spooled again under a new request id).
        self._spool_turn = asyncio.Lock()
        self.waiting = 0  # messages handed over and not answered yet
        self.metrics.spool_depth.set(spool.depth)
        # Told (on the event loop, and it must return at once) after a batch committed something new: the live
        # dashboard's notice (gateway/dashboard/hub.py) hangs here.
        self.on_commit: Callable[[], None] | None = None

    @property
    def redis_up(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    @property
    def resolving(self) -> bool:
        """Whether a message is threaded as it arrives: Redis answers and no spooled message comes before it."""
        return self.redis_up and not self.spool.depth

    def mark_down(self) -> None:
        self._redis_down_until = time.monotonic() + REDIS_DOWN_BACKOFF_S
        self.metrics.redis_up.set(0)

    def enqueue(
        self, commitment: Commitment, *, resolved: bool = True, threaded_only: str = ""
    ) -> asyncio.Future[CommitResult]:
        """Hand a message to the next commit; the future answers once it is safe to acknowledge. Returns at once.

        A resolved message is visible to threading from this moment. An unresolved one (its conversation not
        decided: Redis could not be read) goes to the spool and is threaded when it drains; so is a message
        with `threaded_only`, which is then dropped if it continues no conversation."""
        fut: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        facts = thread_facts(commitment) if resolved else None
        entry = self.uncommitted.add(commitment, facts) if facts is not None else None
        self._pending.append(_Waiter(commitment, resolved, threaded_only, entry, fut))
        self.waiting += 1
        self._wakeup.set()
        return fut

    async def submit(self, commitment: Commitment) -> CommitResult:
        return await self.enqueue(commitment)

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

    async def _commit_batch(self, batch: list[_Waiter]) -> None:
        entries = [w.entry for w in batch if w.entry is not None]  # most web form messages leave none
        try:
            results = await self._commit_or_spool(batch)
        except Exception as exc:
            self.uncommitted.answered(entries, [False] * len(entries))
            log.error("commit failed and the spool refused the batch", extra={"error": type(exc).__name__})
            for w in batch:
                self.metrics.unavailable.labels(w.commitment.message.channel).inc()
                if not w.fut.done():
                    w.fut.set_exception(Unavailable("cannot store the message now; retry later"))
            self.waiting -= len(batch)
            return
        # Only what Redis took stays visible: a duplicate wrote nothing, and a spooled message is threaded anew.
        written = [not (r.duplicate or r.spooled) for w, r in zip(batch, results, strict=True) if w.entry is not None]
        self.uncommitted.answered(entries, written)
        self.metrics.commit_batch.observe(len(batch))
        for w, r in zip(batch, results, strict=True):
            self._count(w.commitment, r)
            if not w.fut.done():
                w.fut.set_result(r)
        self.waiting -= len(batch)
        if self.on_commit is not None and any(not (r.duplicate or r.spooled) for r in results):
            self.on_commit()  # the dashboard's notice that something arrived (at most a flag: see dashboard/)

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

    async def _commit_or_spool(self, batch: Sequence[_Waiter]) -> list[CommitResult]:
        if self.redis_up and not self.spool.depth and all(w.resolved for w in batch):
            try:
                results = await self.committer.commit([w.commitment for w in batch])
            except Exception as exc:
                if not unavailable(exc):
                    raise
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                self.mark_down()
                log.warning("redis cannot take the commit: spooling locally", extra={"error": _why(exc)})
            else:
                self.metrics.redis_up.set(1)
                return results
        return await self._spool([Submission(w.commitment, w.threaded_only) for w in batch])

    async def _spool(self, batch: Sequence[Submission]) -> list[CommitResult]:
        async with self._spool_turn:
            return await self._spool_now(batch)

    async def _spool_now(self, batch: Sequence[Submission]) -> list[CommitResult]:
        known: dict[str, str] = {}
        if self.redis_up:
            # Behind spooled messages while Redis answers: a provider's retry of a message Redis already holds
            # gets the request id it was first given, not a new row.
            try:
                known = await self.committer.known([s.commitment for s in batch])
            except Exception as exc:
                if not unavailable(exc):
                    raise
        rest = [s for s in batch if s.commitment.fingerprint not in known]
        spooled = iter(await self._in_spool_thread(self.spool.put, rest) if rest else ())
        self.metrics.spool_depth.set(self.spool.depth)
        return [
            CommitResult(known[s.commitment.fingerprint], duplicate=True)
            if s.commitment.fingerprint in known
            else next(spooled)
            for s in batch
        ]

    async def drain_forever(self, interval: float = 1.0) -> None:
        """Replay the spool into Redis whenever Redis takes writes; rows go only after their commit."""
        while True:
            await asyncio.sleep(interval)
            if not self.spool.depth:
                continue
            try:
                moved = await self.drain_now()
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                if unavailable(exc):
                    self.mark_down()  # still away, or still refusing writes: the rows wait for the next try
                else:  # any other failure of one drain: the rows stay, and the loop lives on to try again
                    log.error("spool drain failed; retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(REDIS_DOWN_BACKOFF_S * 5)
                continue
            stop_if_cancelled()
            if moved:
                log.info("spool drained", extra={"count": moved, "left": self.spool.depth})

    async def drain_now(self) -> int:
        """Commit everything spooled, oldest first, threading each message as it goes. Raises when Redis
        cannot be read or will not take the writes; the rows not committed stay."""
        moved = 0
        while True:
            rows = await self._in_spool_thread(self.spool.take, self.max_batch)
            if not rows:
                break
            await self._drain_rows(rows)
            moved += len(rows)
            self.metrics.drained.inc(len(rows))
            self.metrics.spool_depth.set(self.spool.depth)
            if self.on_commit is not None:
                self.on_commit()
        self._redis_down_until = 0.0
        self.metrics.redis_up.set(1)
        self.metrics.spool_depth.set(self.spool.depth)
        return moved

    async def _drain_rows(self, rows: list[tuple[int, Submission]]) -> None:
        batch: list[Commitment] = []
        entries: list[Entry | None] = []  # one per message of `batch`

        def place(i: int, resolution: Resolution | None) -> None:
            if resolution is None:
                raise redis.ConnectionError("redis cannot be read: the spool waits")
            submission = rows[i][1]
            m = submission.commitment.message
            if submission.threaded_only and resolution.conversation == m.id:
                self.metrics.ignored.labels(m.channel, submission.threaded_only).inc()
                return
            c = submission.commitment.model_copy(
                update={"conversation": resolution.conversation, "evidence": resolution.evidence}
            )
            facts = thread_facts(c)
            entries.append(self.uncommitted.add(c, facts) if facts is not None else None)
            batch.append(c)

        async with self._spool_turn:
            try:
                await self.resolver.resolve_each([s.commitment.message for _, s in rows], place)
                results = await self.committer.commit(batch) if batch else []
            except BaseException:
                kept = [e for e in entries if e is not None]
                self.uncommitted.answered(kept, [False] * len(kept))
                raise
            # Redis took the writes: from now on a message is checked there (a retry of a row about to be removed
            # is found by its id), and one arriving after the spool empties is committed, not spooled.
            self._redis_down_until = 0.0
            self.metrics.redis_up.set(1)
            kept = [e for e in entries if e is not None]
            written = [not r.duplicate for e, r in zip(entries, results, strict=True) if e is not None]
            self.uncommitted.answered(kept, written)
            await self._in_spool_thread(self.spool.remove, [seq for seq, _ in rows])

    def close(self) -> None:
        # Never block the event loop here: a spool write in progress still completes (the
        # interpreter joins executor threads at exit), and nothing new is accepted after close.
        self._spool_thread.shutdown(wait=False)


def _why(exc: BaseException) -> str:
    """The error's class, or the code a refusing Redis gave (OOM, MISCONF, READONLY): never its whole text."""
    code = getattr(exc, "status_code", None)
    return code if isinstance(exc, redis.ResponseError) and code else type(exc).__name__
