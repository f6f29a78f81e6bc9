"""The order a worker takes its queues in: deliveries first, then events, then replies, unless it is started with
`--first` (a worker that keeps acknowledgements going while deliveries never run out)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rq.job import Job
from rq.serializers import JSONSerializer

from tests.support.gateway import intake, settings_from
from tests.support.redis_server import RedisServer
from workers.queues import REPLIES_QUEUE, deliver_queue_name
from workers.runner import queues


def waiting_jobs(redis_server: RedisServer, config_path: Path) -> dict[str, list[str]]:
    """Three deliveries, then three replies, queued before any worker runs: queue -> job ids."""
    client = redis_server.client()
    by_name = {q.name: q for q in queues(client, settings_from(config_path))}
    jobs = {name: [by_name[name].enqueue("os.getpid").id for _ in range(3)]
            for name in (deliver_queue_name("builtin"), REPLIES_QUEUE)}  # fmt: skip
    client.close()
    return jobs


def started(redis_server: RedisServer, job_ids: list[str]) -> list[datetime]:
    client = redis_server.client()
    times = [Job.fetch(j, connection=client, serializer=JSONSerializer).started_at for j in job_ids]
    client.close()
    assert all(t is not None for t in times)
    return [t for t in times if t is not None]


def test_a_worker_takes_the_deliveries_before_the_replies(redis_server: RedisServer, config_path: Path) -> None:
    jobs = waiting_jobs(redis_server, config_path)
    assert intake(config_path, "worker", "--burst").returncode == 0
    deliveries, replies = (started(redis_server, ids) for ids in jobs.values())
    assert max(deliveries) < min(replies)


def test_a_worker_started_with_first_replies_sends_the_waiting_replies_before_the_deliveries(
    redis_server: RedisServer, config_path: Path
) -> None:
    jobs = waiting_jobs(redis_server, config_path)
    assert intake(config_path, "worker", "--burst", "--first", "replies").returncode == 0
    deliveries, replies = (started(redis_server, ids) for ids in jobs.values())
    assert max(replies) < min(deliveries)


def test_a_queue_first_that_does_not_exist_is_refused_at_start_naming_the_queues_there_are(
    config_path: Path,
) -> None:
    result = intake(config_path, "worker", "--burst", "--first", "replys")
    assert result.returncode == 2
    assert "unknown queue 'replys'; expected one of: deliver-builtin," in result.stderr
    assert "events, replies" in result.stderr
