"""A worker killed while it ran rq's scheduler: a worker started after it takes the scheduler over.

rq's scheduler is a child process of one worker, holding a lock per queue (`rq:scheduler-lock:<queue>`)
that lives 61 s past its last renewal. A worker whose scheduler could not take the lock at start tries
again only at rq's maintenance, every ten minutes; until then no retry and no job held for later (a
text kept for the end of quiet hours) runs. The real processes here: `intake worker` in its own process
group, SIGKILLed whole (the worker and its scheduler, as an OOM kill or a lost container does), a real
redis-server, and a real deliver job scheduled for later.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from gateway.store.redis_conn import text
from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.conftest import Gateway, form
from tests.support.gateway import settings_from, start_worker
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from workers.locks import pid_alive
from workers.queues import GatewayJob

DELIVER = "deliver-builtin"


def scheduler_pid(redis_server: RedisServer) -> int:
    """The pid of the scheduler process holding the deliver queue's lock, 0 when none holds it."""
    r = redis_server.client()
    holder = r.get(RQScheduler.get_locking_key(DELIVER))
    if holder is None:
        return 0
    pid = r.hget(f"rq:scheduler:{text(holder)}", "pid")
    return int(text(pid)) if pid else 0


@pytest.mark.timeout(300)  # the lock's own expiry is 61 s: the deadline below allows for it on a busy machine
async def test_a_worker_started_after_the_schedulers_worker_was_killed_runs_a_job_scheduled_for_later(
    tmp_path: Path, redis_server: RedisServer, gateway: Gateway, config_path: Path
) -> None:
    first = start_worker(config_path, tmp_path / "first.log")
    try:
        await eventually(lambda: scheduler_pid(redis_server) > 0, "the first worker's scheduler holds its lock")
        killed = scheduler_pid(redis_server)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its scheduler (rq forks it into the same group)
        first.wait(10)
        await eventually(lambda: not pid_alive(killed), "the scheduler process is gone")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
    assert scheduler_pid(redis_server) == killed  # its lock outlives it

    # A real request's deliver job, held for a few seconds (as a retry or a text held for the morning is).
    assert (await gateway.post_form(form(), key="held")).status == 202
    q = Queue(DELIVER, connection=redis_server.client(), serializer=JSONSerializer, job_class=GatewayJob)
    (job,) = q.jobs
    q.remove(job)
    q.schedule_job(job, datetime.now(UTC) + timedelta(seconds=2))

    tickets = sqlite_url(settings_from(config_path).path_in_data("tickets.sqlite3"))
    second = start_worker(config_path, tmp_path / "second.log")
    started = time.monotonic()
    try:
        await eventually(lambda: TicketStore.open(tickets).count() == 1, "the scheduled job ran", timeout=150)
        took = time.monotonic() - started
        assert scheduler_pid(redis_server) not in (0, killed)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    print(f"the scheduled job ran {took:.1f} s after the second worker started")
