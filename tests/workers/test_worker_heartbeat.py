"""A busy worker tells Redis it is alive every few seconds, not around every job: rq's beat is an HSET and two
EXPIREs, sent before and after each dequeue, and at `appendfsync always` each of them waits for an fsync."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from workers import context
from workers.queues import EVENTS_QUEUE, GatewayJob
from workers.runner import GatewayWorker

JOBS = 60


@pytest.fixture
def configured(tmp_path: Path, redis_server: RedisServer) -> None:
    context.configure(settings_from(write_config(tmp_path, redis_server.url)))  # our maintenance pass reads it


def expires_for_sixty_jobs(redis_server: RedisServer, worker_class: type[SimpleWorker]) -> int:
    client = redis_server.client()
    queue = Queue(EVENTS_QUEUE, connection=client, serializer=JSONSerializer, job_class=GatewayJob)
    jobs = [queue.enqueue("os.getpid") for _ in range(JOBS)]
    client.config_resetstat()
    worker_class([queue], connection=client, serializer=JSONSerializer, job_class=GatewayJob).work(
        burst=True, logging_level="WARNING"
    )
    assert all(job.get_status(refresh=True) == "finished" for job in jobs)
    calls = int(client.info("commandstats").get("cmdstat_expire", {}).get("calls", 0))
    client.close()
    return calls


@pytest.mark.usefixtures("configured")
def test_sixty_jobs_in_a_row_cost_four_fewer_expires_each_than_rqs_own_worker(redis_server: RedisServer) -> None:
    rqs = expires_for_sixty_jobs(redis_server, SimpleWorker)
    ours = expires_for_sixty_jobs(redis_server, GatewayWorker)
    # rq beats twice from its dequeue loop for every job (two EXPIREs each); the job's own start and end, which
    # we leave alone, set their TTLs inside pipelines.
    assert rqs - ours >= 4 * JOBS, (rqs, ours)
