"""The conversation lock, which a killed worker does not leave behind for its whole lease.

A deliver job holds its conversation's lock across the ticket system's call, so the lease must outlast
the slowest call (CONVERSATION_LOCK_S). A worker killed inside it would keep every retry of that
conversation waiting out the lease. The lock's value names its holder (host and pid), so a waiter on
the same host that finds the holder's process gone takes the lock over at once, as
`runner.reap_dead_local_workers` does for the job itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError

from gateway import keys
from gateway.store.redis_conn import text

CONVERSATION_LOCK_S = 60
WAIT_S = 30.0

# Delete the key only while it still holds the value we judged orphaned.
_BREAK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


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
    key = keys.conversation_lock(conv_id)
    token = f"{socket.gethostname()}|{os.getpid()}|{secrets.token_hex(8)}"
    lock = r.lock(key, timeout=CONVERSATION_LOCK_S, blocking_timeout=0.5)
    deadline = time.monotonic() + wait_s
    while not lock.acquire(token=token):
        holder = r.get(key)
        if holder is not None and _orphaned(text(holder)):
            r.eval(_BREAK, 1, key, holder)
        elif time.monotonic() > deadline:
            raise LockError(f"conversation lock held for more than {wait_s:g} s")
    try:
        yield
    finally:
        with contextlib.suppress(LockError):  # the lease ran out under a slow call: whoever holds it keeps it
            lock.release()
