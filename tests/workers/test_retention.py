"""Families' data is not kept for ever: dead letters expire, idle conversations are forgotten, and a family's
records request (`intake purge --requester`) removes their messages, files and index keys everywhere."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import timedelta
from pathlib import Path

import redis
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Requester, Route, utcnow
from gateway.store.queues import enqueue_once
from gateway.store.redis_conn import text
from gateway.store.spool import Spool, Submission
from tests.conftest import Gateway, form
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend

ANA = "ana.perez@example.org"
LUIS_PHONE = "+15555550123"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"ana's picture" * 20).decode()


def everything(r: redis.Redis) -> str:
    """Every key and every value in Redis, as text: what a records request must leave without her in it."""
    readers = {
        "string": lambda k: r.get(k),
        "hash": lambda k: r.hgetall(k),
        "list": lambda k: r.lrange(k, 0, -1),
        "set": lambda k: r.smembers(k),
        "zset": lambda k: r.zrange(k, 0, -1),
    }
    out = []
    for k in r.scan_iter(count=1000):
        read = readers.get(text(r.type(k)))
        value = read(k) if read else ""
        if isinstance(value, dict) and b"data" in value:  # an rq job: its payload is zlib-compressed JSON
            value = {**value, b"data": zlib.decompress(value[b"data"])}
        out.append(f"{text(k)} {value!r}")
    return "\n".join(out)


async def test_a_dead_lettered_job_is_kept_thirty_days_not_a_year(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    r = redis_server.client()
    await gateway.post_form(form())
    [job_key] = [text(k) for k in r.scan_iter("rq:job:deliver-*")]
    assert int(text(r.hget(job_key, "failure_ttl"))) == 30 * 86400  # written by the commit script
    enqueue_once(r, gateway.settings, "replies", "workers.jobs.note_undelivered", {"bad": "payload"}, "broken", "x")
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert FailedJobRegistry("replies", connection=r, serializer=JSONSerializer).get_job_ids() == ["broken"]
    assert 29 * 86400 < r.ttl("rq:job:broken") <= 30 * 86400


async def test_a_conversation_idle_past_the_retention_time_is_forgotten_and_a_recent_one_kept(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    r = redis_server.client()
    old = (await (await gateway.post_form(form(email="old@example.org"))).json())["request_id"]
    new = (await (await gateway.post_form(form(email="new@example.org"))).json())["request_id"]
    assert intake(config_path, "worker", "--burst").returncode == 0
    old_conv = text(r.hget(keys.request(old), "conversation"))
    r.hset(keys.conversation(old_conv), "last_activity", (utcnow() - timedelta(days=400)).isoformat())
    out = intake(config_path, "purge", "--expired", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["conversations"] == 1
    left = "\n".join(line for line in everything(r).splitlines() if not line.startswith("rq:"))
    assert "old@example.org" not in left  # rq's record of a finished job goes by itself within minutes
    assert not [k for k in r.scan_iter(f"{keys.conversation(old_conv)}*")] and not r.exists(keys.request(old))
    assert "new@example.org" in left and r.exists(keys.request(new))


async def test_a_records_request_removes_a_family_everywhere_and_no_one_else(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, tmp_path: Path
) -> None:
    r = redis_server.client()
    files = [{"filename": "bus.png", "content_type": "image/png", "data_base64": PNG}]
    await gateway.post_form(form(email=ANA, message="Ana's bus never came to Elm St.", attachments=files))
    await gateway.post_form(form(name="Luis", email=None, phone=LUIS_PHONE, message="Luis's router is broken."))
    assert intake(config_path, "worker", "--burst").returncode == 0
    await gateway.post_form(form(email=ANA, message="Ana again: still no bus."))  # waiting on the deliver queue
    # A reply that could not be sent and a copy spooled while Redis was away also carry her words.
    queue = Queue("replies", connection=r, serializer=JSONSerializer)
    queue.enqueue("workers.jobs.send_reply", {"recipient": ANA, "text": "Ana, your bus"}, job_id="ana-reply")
    spooled = InboundMessage(id=new_id(), channel="webform", account="district-web/demo", sender=ANA,
                             requester=Requester(email=ANA), text="Ana, spooled while Redis was down")  # fmt: skip
    spool = Spool(gateway.settings.path_in_data("spool-other.sqlite3"))
    spool.put([Submission(Commitment(message=spooled, fingerprint="fp-ana", conversation=spooled.id, route=Route()))])
    spool.close()
    store = BuiltinBackend.from_settings(gateway.settings)
    [ana_ticket] = [t for t in store.store.export() if t.requester_email == ANA]
    [blob] = [a.storage_key for a in store.details(str(ana_ticket.id)).attachments]
    assert gateway.settings.path_in_data("blobs").joinpath(blob[:2], blob).exists()

    out = intake(config_path, "purge", "--requester", "Ana.Perez@example.org", "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert (done["conversations"], done["tickets"], done["blobs"], done["spooled"]) == (2, 1, 1, 1)
    left = everything(r)
    assert "ana" not in left.lower() and "Elm St" not in left
    assert not gateway.settings.path_in_data("blobs").joinpath(blob[:2], blob).exists()
    [luis] = store.store.export()
    assert store.details(str(luis.id)).ticket.body == "Luis's router is broken."
    spool = Spool(gateway.settings.path_in_data("spool-other.sqlite3"))
    assert spool.depth == 0
    spool.close()
    tickets_db = (gateway.settings.path_in_data("tickets.sqlite3")).read_bytes()
    assert b"Elm St" not in tickets_db  # secure_delete: not even in the file's free pages


def test_purge_names_what_it_needs(tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, redis_server.url)
    assert "give --requester ADDRESS" in intake(config, "purge").stderr
    out = intake(config, "purge", "--requester", "not-an-address")
    assert out.returncode == 2 and "neither an email address nor a phone number" in out.stderr
    settings_from(config)
