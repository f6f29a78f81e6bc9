"""Mail is parsed beside `intake mail`'s event loop, in a pool of processes sized to the usable cores.

Parsing a message is pure CPU (MIME, charsets, HTML to text, language): on the event loop, one slow
message would stall every mailbox's IDLE, its commits and the renewal of its lock, and a lock that
lapses lets a second poller in. Each worker process holds its own EmailIntake and stores the files it
finds (and the raw message) in the blob store. It answers as soon as the run is parsed, naming the files it
wrote; threads of this process make them durable (fsync acts on the file, whoever wrote it) while the worker
parses the next run, and `decide` answers only then: the decisions come back ready to commit. A worker that
waited for its own fsyncs left its core idle for a tenth of the time, and fsync threads beside the parse cost
it more CPU in handing the interpreter lock back and forth than they saved. The pool is started once per
process (spawn: no copy of the parent's event loop, sockets or locks) and shut down with it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from channels.email.intake import EmailIntake, MailDecision
from gateway.errors import IntakeError
from gateway.server.eventloop import settle_heap
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import fsync_each

_intake: EmailIntake | None = None  # one per worker process, made by _start
PARENT_CHECK_S = 1.0
# fsyncs at once: on the ext4 of 2026-12 (no journal, a virtual disk) eight waiting together took a 3 KB file
# 0.08-0.10 ms of wall time each, against 0.21-0.48 ms one after another.
SYNC_THREADS = 8


def _start(settings: Settings, parent: int) -> None:
    global _intake
    # A parent SIGKILLed (the OOM killer, a supervisor's last resort) leaves its pool behind for good: each worker
    # holds the pool's queue open itself, so it never reads an end. It leaves when it sees it has been orphaned.
    # The parent's pid comes from the parent: one killed while this process was still starting is seen too.
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()
    blobs = open_blobs(settings, batch_sync=True)  # the configured store: files, or the shared PostgreSQL
    _intake = EmailIntake(settings.channels.email, blobs, settings.signing_key(), settings.default_language)
    settle_heap()  # a message makes thousands of short-lived objects: collections stay off the start's objects


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _decide(raws: list[bytes], mailbox: str) -> tuple[list[MailDecision], list[str]]:
    """In a worker: decide each message. Returns the decisions and the files written for them, not yet durable."""
    if _intake is None:
        raise RuntimeError("the parsing process was not started by MailParsers")
    decisions = [_intake.decide(raw, mailbox) for raw in raws]
    return decisions, _intake.blobs.unsynced()


def _ready() -> int:
    return os.getpid()


class ParserCrashed(IntakeError):
    """A parsing process died (killed, out of memory): the batch stays in the inbox for the next pass."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class MailParsers:
    def __init__(self, settings: Settings, workers: int = 0) -> None:
        conf = settings.channels.email
        self.workers = workers or conf.parse_workers or usable_cores()
        self._args = (settings, os.getpid())
        self._pool = self._new_pool()
        self._syncer = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="blob-fsync")

    def _new_pool(self) -> ProcessPoolExecutor:
        spawn = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=spawn, initializer=_start, initargs=self._args)

    async def start(self) -> None:
        """Start every worker now (each imports the parsers: seconds on a busy machine), not with the first mail."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(asyncio.wrap_future(self._pool.submit(_ready), loop=loop) for _ in range(self.workers)))

    async def decide(self, raws: dict[int, bytes], mailbox: str) -> dict[int, MailDecision]:
        """Every message's decision by UID, once its files are durable. The batch is shared out in runs of UIDs."""
        uids = sorted(raws)
        if not uids:
            return {}
        share = -(-len(uids) // self.workers)
        runs = [uids[i : i + share] for i in range(0, len(uids), share)]
        loop = asyncio.get_running_loop()
        pool = self._pool
        futures = [pool.submit(_decide, [raws[u] for u in run], mailbox) for run in runs]
        try:
            answers = await asyncio.gather(*(asyncio.wrap_future(f, loop=loop) for f in futures))
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the first of the runs in flight to hear it replaces the pool, once
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise ParserCrashed("a mail parsing process died") from exc
        finally:
            for f in futures:
                f.cancel()  # only those not started yet: a caller that gave up leaves no work queued
        await self._make_durable([path for _, written in answers for path in written])
        return {
            uid: d for run, (decided, _) in zip(runs, answers, strict=True) for uid, d in zip(run, decided, strict=True)
        }

    async def _make_durable(self, paths: list[str]) -> None:
        """fsync every path, shared out among the threads: waiting together, they reach the disk together. Every one
        is waited for, then the first failure raised: nothing that refers to these files may be committed."""
        loop = asyncio.get_running_loop()
        shares = [paths[i::SYNC_THREADS] for i in range(min(SYNC_THREADS, len(paths)))]
        done = await asyncio.gather(
            *(loop.run_in_executor(self._syncer, fsync_each, share) for share in shares), return_exceptions=True
        )
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    def close(self) -> None:
        """Stop the worker processes (waiting for any parse under way)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._syncer.shutdown(wait=True)
