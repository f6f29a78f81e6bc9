"""A held job comes back after its hold has ended, never before (rq files the time in whole seconds)."""

from __future__ import annotations

import time

from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from tests.support.redis_server import RedisServer
from workers.circuit import held

HOLDS = [0.3 + 0.37 * n for n in range(6)]  # rq floors every one of them without the fix: six prove it


def hold_for(hold_s: float) -> object:
    return held(hold_s)


def late_in_a_second() -> None:
    """rq cuts the return time down to its whole second: the cut is largest when a job runs just before one ends."""
    while time.time() % 1 < 0.8:
        time.sleep(0.01)


def test_a_held_job_is_filed_to_come_back_no_sooner_than_its_hold_ends(redis_server: RedisServer) -> None:
    client = redis_server.client()
    queue = Queue("holds", connection=client)
    registry = ScheduledJobRegistry(queue=queue)
    early = []
    for hold_s in HOLDS:
        job = queue.enqueue(hold_for, hold_s)
        late_in_a_second()
        started = time.time()
        SimpleWorker([queue], connection=client).work(burst=True)
        back_at = registry.get_scheduled_time(job).timestamp()
        if back_at < started + hold_s:
            early.append((hold_s, round(started + hold_s - back_at, 3)))
        registry.remove(job)
    assert early == [], f"jobs filed to come back before their hold ended (hold, seconds early): {early}"
    client.close()
