"""A worker SIGKILLed between taking a job off its queue and entering it in rq's started registry: the job is in
no list and no registry. The next worker to start must find it and run it (the chaos bench lost one that way)."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend
from workers.queues import EVENTS_QUEUE
from workers.runner import SCAN_PAGE, queues, requeue_orphans


async def test_a_job_taken_off_its_queue_by_a_worker_killed_at_once_is_run_by_the_next_worker(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    assert (await gateway.post_form(form())).status == 202
    r = redis_server.client()
    # What the killed worker's BLPOP did, the instant before its SIGKILL: the job left the queue, and nothing else.
    taken = r.lpop("rq:queue:deliver-builtin")
    assert taken is not None and r.llen("rq:queue:deliver-builtin") == 0
    assert r.hget(b"rq:job:" + taken, "status") == b"queued"
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert BuiltinBackend.from_settings(gateway.settings).count() == 1


def test_lost_jobs_are_found_on_every_page_of_a_long_backlog(redis_server: RedisServer) -> None:
    """The scan reads the jobs a page at a time (one round trip per page): a lost job on the first page, and one
    on the last, partial page, are both put back; the thousands still on the queue are left where they are."""
    client = redis_server.client()
    qs = queues(client, Settings())
    queue = next(q for q in qs if q.name == EVENTS_QUEUE)
    jobs = [queue.enqueue("os.getpid", job_id=f"job-{n:05d}") for n in range(SCAN_PAGE * 2 + 10)]
    lost = {jobs[0].id, jobs[-1].id}
    for job_id in lost:
        client.lrem(queue.key, 1, job_id)  # what a worker SIGKILLed right after its BLPOP leaves behind
    assert requeue_orphans(client, qs) == 2
    assert client.llen(queue.key) == len(jobs)
    assert lost <= {j.decode() for j in client.lrange(queue.key, 0, -1)}
    client.close()
