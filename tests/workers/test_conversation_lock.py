"""The conversation lock a delivery holds while it makes a ticket: taken with the delivery's reads in one round trip,
let go with its last write, never left behind by a killed worker, and never taken from the next holder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
from redis.exceptions import LockError

from gateway import keys
from tests.support.redis_server import RedisServer
from workers.locks import locked_reads


def _read_x(pipe: redis.client.Pipeline) -> None:
    pipe.hget("conv-fields", "x")


def test_the_reads_made_with_the_lock_see_what_the_last_holder_wrote_as_it_let_go(redis_server: RedisServer) -> None:
    r = redis_server.client()
    seen: list[object] = []
    second_done = threading.Event()

    def second() -> None:
        with locked_reads(r, "c1", _read_x, wait_s=60) as held:
            seen.append(held.answers[0])
        second_done.set()

    with locked_reads(r, "c1", _read_x) as first:
        assert first.answers == [None]
        waiter = threading.Thread(target=second)
        waiter.start()
        # The second holder is waiting, and keeps waiting while the first holds the lock.
        assert not second_done.wait(0.5)
        with r.pipeline() as pipe:
            pipe.hset("conv-fields", "x", "written by the first")
            first.release_with(pipe)
    assert second_done.wait(30)
    waiter.join()
    assert seen == [b"written by the first"]
    assert r.get(keys.conversation_lock("c1")) is None


def test_a_lock_left_by_a_killed_worker_on_this_host_is_taken_at_once(redis_server: RedisServer) -> None:
    r = redis_server.client()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_holder = f"{socket.gethostname()}|{int(gone.stdout)}|0000"
    r.set(keys.conversation_lock("c2"), dead_holder, px=60_000)
    started = time.monotonic()
    with locked_reads(r, "c2", _read_x, wait_s=20) as held:
        assert r.get(keys.conversation_lock("c2")) == held.token.encode()
    assert time.monotonic() - started < 20  # not the lease's 60 s, nor the wait's 20
    assert r.get(keys.conversation_lock("c2")) is None


def test_a_live_holder_keeps_the_lock_and_the_waiter_gives_up_with_a_lock_error(redis_server: RedisServer) -> None:
    r = redis_server.client()
    live = f"{socket.gethostname()}|{os.getpid()}|1111"  # this process: alive
    r.set(keys.conversation_lock("c3"), live, px=60_000)
    with pytest.raises(LockError), locked_reads(r, "c3", _read_x, wait_s=0.3):
        pass
    assert r.get(keys.conversation_lock("c3")) == live.encode()


def test_a_holder_whose_lease_ran_out_leaves_the_next_holders_lock_alone(redis_server: RedisServer) -> None:
    r = redis_server.client()
    with locked_reads(r, "c4", _read_x):
        # The lease ran out under a slow ticket system call, and another delivery took the lock.
        r.set(keys.conversation_lock("c4"), "other-host|1|2222", px=60_000)
    assert r.get(keys.conversation_lock("c4")) == b"other-host|1|2222"
    with locked_reads(r, "c5", _read_x) as held, r.pipeline() as pipe:
        r.set(keys.conversation_lock("c5"), "other-host|1|3333", px=60_000)
        held.release_with(pipe)
    assert r.get(keys.conversation_lock("c5")) == b"other-host|1|3333"


def test_a_read_that_fails_under_the_lock_raises_and_lets_the_lock_go(redis_server: RedisServer) -> None:
    r = redis_server.client()
    r.set("conv-fields", "a string, not a hash")  # HGET on it answers WRONGTYPE
    with pytest.raises(redis.ResponseError), locked_reads(r, "c6", _read_x):
        pass
    assert r.get(keys.conversation_lock("c6")) is None  # not left for its 60 s lease
