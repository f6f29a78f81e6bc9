"""The conversation lock, which a killed worker does not leave behind for its whole lease.

A deliver job holds its conversation's lock across the ticket system's call, so the lease must outlast
the slowest call (CONVERSATION_LOCK_S). A worker killed inside it would keep every retry of that
conversation waiting out the lease. The lock's value names its holder (host and pid), so a waiter on
the same host that finds the holder's process gone takes the lock over at once, as
`recovery.reaping.reap_dead_local_workers` does for the job itself.

`locked_reads` takes the lock and reads what the caller needs under it in one round trip: the SET that
takes the lock goes first in the pipeline, so a read after it that Redis answers is a read under the
lock (a caller that does not get the lock throws its reads away and waits). The holder may let the lock
go in its last write's pipeline (`Held.release_with`). rq's scheduler locks, held by a killed worker's
scheduler, are freed the same way (`free_dead_local_schedulers_locks`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import LockError

from gateway import keys
from gateway.store.redis_conn import text

log = logging.getLogger("intake.worker")

CONVERSATION_LOCK_S = 60
WAIT_S = 30.0
RETRY_EVERY_S = 0.05

# Delete the key only while it still holds this value: a holder's release, and a waiter's break of an orphan.
_DELETE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(holder: str) -> bool:
    host, _, rest = holder.partition("|")
    pid = rest.partition("|")[0]
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


@contextmanager
def conversation_lock(r: redis.Redis, conv_id: str, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the conversation's lock; raise LockError after `wait_s` behind a live holder."""
    with locked_reads(r, conv_id, lambda _pipe: None, wait_s):
        yield


class Held:
    """A conversation lock held by `locked_reads`: the answers of the reads made with it, and a way to let it go in
    the holder's last write (one round trip less than a release of its own)."""

    __slots__ = ("answers", "key", "released", "token")

    def __init__(self, key: str, token: str, answers: list[Any]) -> None:
        self.key, self.token, self.answers = key, token, answers
        self.released = False

    def release_with(self, pipe: Pipeline) -> list[Any]:
        """Execute the holder's pipeline with the release as its last command; the pipeline's other answers."""
        pipe.eval(_DELETE_IF, 1, self.key, self.token)
        *answers, _released = pipe.execute()
        self.released = True
        return answers


@contextmanager
def locked_reads(
    r: redis.Redis, conv_id: str, reads: Callable[[Pipeline], None], wait_s: float = WAIT_S
) -> Iterator[Held]:
    """Hold the conversation's lock, with the answers of `reads` (commands it adds to a pipeline) read under it;
    raise LockError after `wait_s` behind a live holder."""
    key = keys.conversation_lock(conv_id)
    token = f"{socket.gethostname()}|{os.getpid()}|{secrets.token_hex(8)}"
    deadline = time.monotonic() + wait_s
    while True:
        with r.pipeline(transaction=False) as pipe:
            pipe.set(key, token, nx=True, px=CONVERSATION_LOCK_S * 1000)
            reads(pipe)
            taken, *answers = pipe.execute(raise_on_error=False)
        if isinstance(taken, Exception):
            raise taken
        if taken:
            break
        holder = r.get(key)
        if holder is not None and _orphaned(text(holder)):
            r.eval(_DELETE_IF, 1, key, holder)
            continue
        if time.monotonic() > deadline:
            raise LockError(f"conversation lock held for more than {wait_s:g} s")
        time.sleep(RETRY_EVERY_S)
    held = Held(key, token, answers)
    try:
        # A read that failed (the lock is taken all the same): raised here, where the lock is let go.
        failed = next((a for a in answers if isinstance(a, Exception)), None)
        if failed is not None:
            raise failed
        yield held
    finally:
        if not held.released:  # the lease ran out under a slow call: whoever holds it now keeps it
            r.eval(_DELETE_IF, 1, key, token)
