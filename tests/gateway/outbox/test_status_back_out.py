"""A ticket's status change goes back out on the requester's own channel, in their language."""

from __future__ import annotations

import json
from pathlib import Path

from gateway import keys
from gateway.models import Reply
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


def timeline(redis_server: RedisServer, conv: str) -> list[dict[str, str]]:
    return [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]


def pending_email(redis_server: RedisServer) -> list[Reply]:
    parked = redis_server.client().lrange(keys.pending_outbound("email"), 0, -1)
    return [Reply.model_validate(json.loads(r)["reply"]) for r in parked]


async def submit_and_deliver(gateway: Gateway, config: Path, **fields: object) -> str:
    resp = await gateway.post_form(form(**fields))
    assert resp.status == 202
    assert intake(config, "worker", "--burst").returncode == 0
    return str((await resp.json())["request_id"])


async def test_new_request_is_acknowledged_on_the_status_page_in_spanish(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    rid = await submit_and_deliver(gateway, config_path, language="es")
    events = timeline(redis_server, rid)
    assert [e["event"] for e in events] == ["received", "ticket_created", "reply"]
    assert events[2]["language"] == "es"
    assert "Recibimos su solicitud (caso #1)" in events[2]["text"]


async def test_acknowledgement_for_an_email_requester_waits_on_the_email_outbound_queue(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    await submit_and_deliver(gateway, config_path, language="en")
    [ack] = pending_email(redis_server)
    assert ack.recipient == "ana.perez@example.org"
    assert ack.event == "received"
    assert ack.subject == "We received your request [#1]"
    assert "/status/" in ack.text


async def test_requester_without_email_gets_no_email(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    await submit_and_deliver(gateway, config_path, email=None, phone="(555) 201-3344")
    assert pending_email(redis_server) == []


async def test_status_update_from_the_cli_reaches_the_requester_in_their_language(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    rid = await submit_and_deliver(gateway, config_path, language="es")
    result = intake(config_path, "tickets", "update", "1", "--status", "in_progress", "--comment", "El chofer ya sabe.")
    assert result.returncode == 0, result.stderr
    assert intake(config_path, "worker", "--burst").returncode == 0

    conv = redis_server.client().hgetall(keys.conversation(rid))
    assert conv[b"status"] == b"in_progress"
    last = timeline(redis_server, rid)[-1]
    assert last["event"] == "reply"
    assert last["text"] == "Su solicitud #1 ahora está en proceso. El chofer ya sabe."
    update = pending_email(redis_server)[-1]
    assert update.event == "status_changed"
    assert update.language == "es"
    assert update.subject == "Novedades sobre su solicitud [#1]"


async def test_resolving_sends_the_resolution_message(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    rid = await submit_and_deliver(gateway, config_path, language="en")
    intake(config_path, "tickets", "update", "1", "--status", "resolved", "--comment", "Route 4 is back on time.")
    assert intake(config_path, "worker", "--burst").returncode == 0
    last = timeline(redis_server, rid)[-1]
    assert last["text"].startswith("Your request #1 is resolved. Route 4 is back on time.")
    assert pending_email(redis_server)[-1].subject == "Your request is resolved [#1]"


async def test_a_status_event_processed_twice_tells_the_requester_once(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    rid = await submit_and_deliver(gateway, config_path, language="en")
    intake(config_path, "tickets", "update", "1", "--status", "waiting")
    r = redis_server.client()
    [event_job] = [k.decode() for k in r.scan_iter("rq:job:event-*")]
    assert intake(config_path, "worker", "--burst").returncode == 0
    from rq import Queue
    from rq.serializers import JSONSerializer

    q = Queue("events", connection=r, serializer=JSONSerializer)
    job = q.fetch_job(event_job.removeprefix("rq:job:"))
    assert job is not None
    q.enqueue_job(job)
    assert intake(config_path, "worker", "--burst").returncode == 0
    replies = [e for e in timeline(redis_server, rid) if e["event"] == "reply"]
    statuses = [e for e in timeline(redis_server, rid) if e["event"] == "status_changed"]
    assert len(replies) == 2  # the acknowledgement and one status update
    assert len(statuses) == 1


def test_tickets_commands_list_show_and_refuse_unknown_ids(config_path: Path) -> None:
    listing = intake(config_path, "tickets", "list", "--json")
    assert listing.returncode == 0
    assert json.loads(listing.stdout)["tickets"] == []
    missing = intake(config_path, "tickets", "show", "99")
    assert missing.returncode != 0
    assert "no ticket 99" in missing.stderr
    bad_status = intake(config_path, "tickets", "update", "1", "--status", "teleported")
    assert bad_status.returncode == 2


async def test_tickets_show_lists_the_attachment_and_the_history(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    attachments = [{"filename": "bus-stop.png", "data_base64": base64.b64encode(png).decode()}]
    await submit_and_deliver(gateway, config_path, attachments=attachments)
    shown = intake(config_path, "tickets", "show", "1")
    assert shown.returncode == 0
    assert "bus-stop.png (image/png, 72 bytes)" in shown.stdout
    assert "new" in shown.stdout
    listing = json.loads(intake(config_path, "tickets", "list", "--json").stdout)["tickets"]
    assert listing[0]["school"] == "lhs"
    assert listing[0]["requester_email"] == "ana.perez@example.org"
