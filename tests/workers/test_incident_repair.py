"""A reply job a killed worker dropped (taken off the queue, never started) is found and sent, once."""

from __future__ import annotations

import json
from pathlib import Path

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.incidents.store import IncidentStore
from gateway.settings import Settings
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers import context
from workers.incident_repair import check_replies


async def test_a_dropped_incident_reply_is_queued_again_and_sent_once(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, settings: Settings
) -> None:
    opened = intake(config_path, "incident", "open", "--title", "Phones down", "--match", "phones?",
                    "--until", "2999-01-01T00:00")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    resp = await gateway.post_form(form(message="The office phones are dead", email=None, phone="5552013344"))
    rid = str((await resp.json())["request_id"])
    assert intake(config_path, "worker", "--burst").returncode == 0
    updated = intake(config_path, "incident", "update", "1", "--status", "resolved", "--message", "Lines restored.")
    assert updated.returncode == 0, updated.stderr
    context.configure(settings)
    r = context.connection()
    events = Queue("events", connection=r, serializer=JSONSerializer)
    SimpleWorker([events], connection=r, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
    replies = Queue("replies", connection=r, serializer=JSONSerializer)
    [job_id] = replies.get_job_ids()
    r.lrem(replies.key, 0, job_id)  # what a worker killed right after BLPOP leaves behind

    store = IncidentStore(r)
    assert check_replies(store, "1", 1, min_age_s=3600).requeued == 0  # too fresh: a live worker may hold it
    progress = check_replies(store, "1", 1, min_age_s=0)
    assert (progress.told, progress.owed, progress.requeued) == (0, 1, 1)
    assert check_replies(store, "1", 1, min_age_s=0).requeued == 0  # back on the queue: not queued twice
    assert intake(config_path, "worker", "--burst").returncode == 0

    texts = [json.loads(e)["text"] for e in redis_server.client().lrange(keys.timeline(rid), 0, -1)
             if json.loads(e)["event"] == "reply"]  # fmt: skip
    assert sum("Lines restored." in t for t in texts) == 1
    assert check_replies(store, "1", 1, min_age_s=0).told == 1
