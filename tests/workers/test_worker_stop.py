"""A SIGTERM is never lost, even when it lands inside a step that logs and leaves every error."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import suppress

import pytest
from rq.exceptions import StopRequested
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from gateway.settings import Settings
from tests.support.redis_server import RedisServer
from workers.queues import GatewayJob
from workers.recovery.reaping import reap_dead_local_workers
from workers.runner import GatewayWorker, queues


@pytest.fixture
def handlers_kept() -> Iterator[None]:
    """rq's stop handler swaps the process's SIGTERM and SIGINT handlers; pytest's are put back after."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in kept.items():
        signal.signal(sig, handler)


def swallowed_stop(worker: GatewayWorker) -> None:
    """What a step that catches every Exception does with the StopRequested that rq's handler raises in it."""
    with suppress(StopRequested):
        worker.request_stop(signal.SIGTERM, None)


@pytest.mark.usefixtures("handlers_kept")
def test_a_stop_swallowed_by_a_step_ends_the_next_maintenance_pass_and_the_next_loop(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    worker = GatewayWorker(
        queues(client, Settings()), connection=client, serializer=JSONSerializer, job_class=GatewayJob
    )
    swallowed_stop(worker)
    with pytest.raises(StopRequested):
        worker.run_maintenance_tasks()
    with pytest.raises(StopRequested):
        worker.check_for_suspension(burst=False)
    client.close()


def test_a_started_entry_whose_execution_record_is_gone_is_left_to_expire_and_the_worker_goes_on(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    qs = queues(client, Settings())
    registry = StartedJobRegistry(queue=qs[0])
    entry = "a-job:an-execution-whose-record-expired"
    client.zadd(registry.key, {entry: time.time() + 600})
    assert reap_dead_local_workers(client, qs) == 0
    assert client.zscore(registry.key, entry) is not None
    client.close()
