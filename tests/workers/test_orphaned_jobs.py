"""A worker SIGKILLed between taking a job off its queue and entering it in rq's started registry: the job is in
no list and no registry. The next worker to start must find it and run it (the chaos bench lost one that way).
Finding it reads every job, so it is searched for only when a worker died that way: a worker takes itself out of
the record of running workers when it stops with nothing in hand, and a SIGTERM waits for a job it has taken to
start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.settings import Settings
from tests.conftest import Gateway, form
from tests.support.gateway import intake, settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from tests.workers.test_worker_stop import handlers_kept
from workers import context
from workers.backends.builtin import BuiltinBackend
from workers.queues import EVENTS_QUEUE, GatewayJob
from workers.recovery.orphans import SCAN_PAGE, recover_orphans, requeue_orphans
from workers.runner import GatewayWorker, queues

__all__ = ["handlers_kept"]  # the fixture shared with test_worker_stop


def running(redis_server: RedisServer) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_server.client().hgetall(keys.WORKERS_RUNNING).items()}


def waiting_for_jobs(redis_server: RedisServer, pid: int) -> bool:
    """In the record of running workers, and waiting for jobs (its signal handlers in place)."""
    client = redis_server.client()
    name = next((n for n, v in running(redis_server).items() if v.endswith(f"|{pid}")), None)
    return name is not None and client.hget(f"rq:worker:{name}", "state") == b"idle"


async def test_a_job_taken_off_its_queue_by_a_worker_killed_at_once_is_run_by_the_next_worker(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, tmp_path: Path
) -> None:
    worker = start_worker(config_path, tmp_path / "worker.log")
    await eventually(lambda: any(v.endswith(f"|{worker.pid}") for v in running(redis_server).values()),
                     "the worker is in the record of running workers")  # fmt: skip
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert (await gateway.post_form(form())).status == 202
    r = redis_server.client()
    # What the killed worker's BLPOP did, the instant before its SIGKILL: the job left the queue, and nothing else.
    taken = r.lpop("rq:queue:deliver-builtin")
    assert taken is not None and r.llen("rq:queue:deliver-builtin") == 0
    assert r.hget(b"rq:job:" + taken, "status") == b"queued"
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert BuiltinBackend.from_settings(gateway.settings).count() == 1
    assert running(redis_server) == {}  # the dead worker is forgotten once searched for, the burst worker stopped


async def test_a_worker_stopped_by_sigterm_takes_itself_out_of_the_record_so_nothing_is_searched_for(
    redis_server: RedisServer, config_path: Path, tmp_path: Path
) -> None:
    worker = start_worker(config_path, tmp_path / "worker.log")
    await eventually(lambda: waiting_for_jobs(redis_server, worker.pid), "the worker waits for jobs")
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait() == 0
    assert running(redis_server) == {}
    client = redis_server.client()
    qs = queues(client, Settings())
    queue = next(q for q in qs if q.name == EVENTS_QUEUE)
    job = queue.enqueue("os.getpid")
    client.lrem(queue.key, 1, job.id)  # taken by no worker that died: not searched for, the search not paid
    assert recover_orphans(client, qs) == 0
    client.close()


class StoppedAsItTakes(GatewayWorker):
    """A SIGTERM that lands after the worker's BLPOP has taken a job and before rq has entered it as started."""

    def prepare_execution(self, job: Job) -> object:  # type: ignore[override]
        os.kill(os.getpid(), signal.SIGTERM)
        return super().prepare_execution(job)


@pytest.mark.usefixtures("handlers_kept")
def test_a_sigterm_between_taking_a_job_and_starting_it_lets_the_job_run_and_then_stops(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    context.configure(settings_from(write_config(tmp_path, redis_server.url)))  # our maintenance pass reads it
    client = redis_server.client()
    queue = Queue(EVENTS_QUEUE, connection=client, serializer=JSONSerializer, job_class=GatewayJob)
    jobs = [queue.enqueue("os.getpid") for _ in range(2)]
    worker = StoppedAsItTakes([queue], connection=client, serializer=JSONSerializer, job_class=GatewayJob)
    worker.work(burst=False, logging_level="WARNING")
    statuses = [Job.fetch(j.id, connection=client, serializer=JSONSerializer).get_status() for j in jobs]
    assert statuses == ["finished", "queued"]  # the job taken ran; the stop came before the next one
    assert client.llen(queue.key) == 1
    assert running(redis_server) == {}  # stopped with nothing in hand
    client.close()


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
