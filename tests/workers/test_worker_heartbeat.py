"""A busy worker tells Redis it is alive every few seconds, not around every job: rq's beat is an HSET and two
EXPIREs, sent before and after each dequeue, and at `appendfsync always` each of them waits for an fsync."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from tests.conftest import Gateway, form
from tests.support.gateway import settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from workers import context
from workers.backends.builtin import BuiltinBackend
from workers.queues import EVENTS_QUEUE, GatewayJob
from workers.runner import GatewayWorker

JOBS = 60


@pytest.fixture
def configured(tmp_path: Path, redis_server: RedisServer) -> None:
    context.configure(settings_from(write_config(tmp_path, redis_server.url)))  # our maintenance pass reads it


def calls_for_sixty_jobs(redis_server: RedisServer, worker_class: type[SimpleWorker]) -> Counter[str]:
    """What Redis ran, by command, while the worker ran sixty jobs in a row; each job's record is checked too."""
    client = redis_server.client()
    queue = Queue(EVENTS_QUEUE, connection=client, serializer=JSONSerializer, job_class=GatewayJob)
    jobs = [queue.enqueue("os.getpid") for _ in range(JOBS)]
    client.config_resetstat()
    worker_class([queue], connection=client, serializer=JSONSerializer, job_class=GatewayJob).work(
        burst=True, logging_level="WARNING"
    )
    stats = client.info("commandstats")
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished"
        assert job.last_heartbeat is not None and job.started_at is not None and job.last_heartbeat >= job.started_at
    client.close()
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def expires_for_sixty_jobs(redis_server: RedisServer, worker_class: type[SimpleWorker]) -> int:
    return calls_for_sixty_jobs(redis_server, worker_class)["expire"]


@pytest.mark.usefixtures("configured")
def test_sixty_jobs_in_a_row_cost_four_fewer_expires_each_than_rqs_own_worker(redis_server: RedisServer) -> None:
    rqs = expires_for_sixty_jobs(redis_server, SimpleWorker)
    ours = expires_for_sixty_jobs(redis_server, GatewayWorker)
    # rq beats twice from its dequeue loop for every job (two EXPIREs each); the job's own start and end, which
    # we leave alone, set their TTLs inside pipelines.
    assert rqs - ours >= 4 * JOBS, (rqs, ours)


@pytest.mark.usefixtures("configured")
def test_sixty_jobs_in_a_row_write_the_workers_state_and_the_jobs_end_once_each_and_rarely_ask_about_suspension(
    redis_server: RedisServer,
) -> None:
    rqs = calls_for_sixty_jobs(redis_server, SimpleWorker)
    ours = calls_for_sixty_jobs(redis_server, GatewayWorker)
    # rq's worker writes 14 HSETs a job here, ours 7: the beats of rq's dequeue loop and of its suspension check (a
    # beat every 5 s instead, a handful at most here), `idle` between two jobs (written once the worker waits: see
    # below), and the finished job's heartbeat stamped with a write of its own (ours goes with the job's record,
    # checked above).
    assert rqs["hset"] - ours["hset"] >= 7 * JOBS - 5, (rqs["hset"], ours["hset"])
    assert rqs["exists"] >= JOBS
    assert ours["exists"] <= JOBS // 2, ours["exists"]  # once a second at most: sixty jobs take far less than 30 s


async def test_a_worker_that_has_run_out_of_jobs_shows_as_idle(gateway: Gateway, config_path: Path) -> None:
    """`idle` is not written between two jobs any more, only once the worker waits for one: it still shows."""
    client = redis.Redis.from_url(gateway.settings.redis.url)
    worker = start_worker(config_path, config_path.parent / "worker.log")
    try:
        assert (await gateway.post_form(form())).status == 202
        store = BuiltinBackend.from_settings(gateway.settings)
        await eventually(lambda: store.count() == 1, "the ticket made")

        def states() -> list[bytes]:
            keys = [k for k in client.smembers("rq:workers") if not k.endswith(b":executions")]
            return [client.hget(k, "state") or b"" for k in keys]

        await eventually(lambda: states() == [b"idle"], "the worker shown as idle")
    finally:
        worker.kill()
        worker.wait(30)
        client.close()
