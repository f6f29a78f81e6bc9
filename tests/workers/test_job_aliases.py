"""Jobs queued before an upgrade still run: rq stores a job's function by its dotted name, and every name an
earlier release wrote is mapped to the entry point that runs it now (workers.queues.JOB_ALIASES)."""

from __future__ import annotations

from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer
from rq.utils import import_attribute

from gateway import keys
from gateway.store.redis_conn import text
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend
from workers.queues import JOB_ALIASES

# What releases before the house wrote, and still sit in Redis after an upgrade.
OLD_NAMES = (
    "workers.jobs.deliver",
    "workers.jobs.send_reply",
    "workers.jobs.handle_status_event",
    "workers.incident_jobs.fan_out",
    "workers.sms_media.fetch_media",
    "workers.sms_inbound.note_undelivered",
)


def test_every_job_name_a_release_wrote_resolves_to_a_function() -> None:
    for name in OLD_NAMES:
        assert callable(import_attribute(JOB_ALIASES.get(name, name))), name


async def test_a_job_enqueued_by_its_old_name_still_runs(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    resp = await gateway.post_form(form(language="en"))
    assert intake(config_path, "worker", "--burst").returncode == 0
    r = redis_server.client()
    conv = text(r.hget(keys.request((await resp.json())["request_id"]), "conversation"))
    payload = {"conversation": conv, "key": "SMold", "reply_event": "status_changed", "error_code": "30006"}
    Queue("replies", connection=r, serializer=JSONSerializer).enqueue(
        "workers.sms_inbound.note_undelivered", payload, job_id="undelivered-SMold"
    )
    assert intake(config_path, "worker", "--burst").returncode == 0
    comments = BuiltinBackend.from_settings(gateway.settings).details("1").comments
    assert [(c.body, c.public) for c in comments] == [
        ("The family did not receive the text (status_changed): error 30006. Reach them another way.", False)
    ]
