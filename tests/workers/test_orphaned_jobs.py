"""A worker SIGKILLed between taking a job off its queue and entering it in rq's started registry: the job is in
no list and no registry. The next worker to start must find it and run it (the chaos bench lost one that way)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend


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
