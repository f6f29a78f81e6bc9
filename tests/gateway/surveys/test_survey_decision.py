"""When a survey is asked: only when switched on, once per conversation, after its delay, not after a reopening."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.models import utcnow
from tests.conftest import Gateway, form
from tests.gateway.surveys.support import parked, resolved, survey, work
from tests.support.gateway import intake, write_config
from tests.support.redis_server import RedisServer


def scheduled(redis_server: RedisServer) -> list[str]:
    registry = ScheduledJobRegistry("replies", connection=redis_server.client(), serializer=JSONSerializer)
    return [j for j in registry.get_job_ids() if j.startswith("survey-")]


def run_scheduled_now(redis_server: RedisServer, job_id: str) -> None:
    """Put a scheduled job on its queue now, as rq's scheduler does when its time comes."""
    q = Queue("replies", connection=redis_server.client(), serializer=JSONSerializer)
    job = q.fetch_job(job_id)
    assert job is not None
    ScheduledJobRegistry(queue=q).remove(job)
    q.enqueue_job(job)


async def test_no_survey_while_surveys_are_switched_off(tmp_path: Path, redis_server: RedisServer) -> None:
    from tests.conftest import start_gateway
    from tests.support.gateway import settings_from

    config = write_config(tmp_path, redis_server.url)  # the shipped default: off
    server, http = await start_gateway(settings_from(config))
    try:
        conv = await resolved(Gateway(server, http, settings_from(config)), config)
    finally:
        await http.close()
        await server.close()
    assert survey(redis_server, conv) == {}
    assert parked(redis_server, "email") == []
    assert parked(redis_server, "email", "resolved") != []  # the resolution itself still went


async def test_with_a_delay_the_survey_waits_in_the_scheduler_for_its_time(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.conftest import start_gateway
    from tests.support.gateway import settings_from

    config = write_config(tmp_path, redis_server.url, surveys={"enabled": True, "delay_minutes": 1440})
    before = utcnow()
    server, http = await start_gateway(settings_from(config))
    try:
        conv = await resolved(Gateway(server, http, settings_from(config)), config)
    finally:
        await http.close()
        await server.close()
    assert survey(redis_server, conv)["state"] == "scheduled"
    assert parked(redis_server, "email") == []
    [job_id] = scheduled(redis_server)
    registry = ScheduledJobRegistry("replies", connection=redis_server.client(), serializer=JSONSerializer)
    at = registry.get_scheduled_time(job_id)
    assert before + timedelta(hours=24) - timedelta(seconds=5) <= at <= utcnow() + timedelta(hours=24)
    run_scheduled_now(redis_server, job_id)
    work(config)
    assert survey(redis_server, conv)["state"] == "sent"
    assert len(parked(redis_server, "email")) == 1


async def test_a_ticket_reopened_during_the_delay_is_asked_after_its_next_resolution_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.conftest import start_gateway
    from tests.support.gateway import settings_from

    config = write_config(tmp_path, redis_server.url, surveys={"enabled": True, "delay_minutes": 60})
    server, http = await start_gateway(settings_from(config))
    try:
        conv = await resolved(Gateway(server, http, settings_from(config)), config)
    finally:
        await http.close()
        await server.close()
    [first] = scheduled(redis_server)
    assert intake(config, "tickets", "update", "1", "--status", "open").returncode == 0
    work(config)
    run_scheduled_now(redis_server, first)
    work(config)
    assert survey(redis_server, conv) == {}  # released: nothing was asked
    assert parked(redis_server, "email") == []
    assert intake(config, "tickets", "update", "1", "--status", "closed").returncode == 0
    work(config)
    [second] = scheduled(redis_server)
    assert second != first
    run_scheduled_now(redis_server, second)
    work(config)
    assert survey(redis_server, conv)["state"] == "sent"
    assert intake(config, "tickets", "update", "1", "--status", "open").returncode == 0
    assert intake(config, "tickets", "update", "1", "--status", "resolved").returncode == 0
    work(config)
    assert scheduled(redis_server) == []
    assert len(parked(redis_server, "email")) == 1


async def test_every_request_of_a_family_is_its_own_conversation_with_its_own_survey(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    first = await gateway.post_form(form(message="The bus was late."))
    second = await gateway.post_form(form(message="The cafeteria card does not work."))
    work(config_path)
    for ticket in ("1", "2"):
        assert intake(config_path, "tickets", "update", ticket, "--status", "resolved").returncode == 0
    work(config_path)
    convs = [str((await r.json())["request_id"]) for r in (first, second)]
    assert [survey(redis_server, c)["state"] for c in convs] == ["sent", "sent"]
    assert len(parked(redis_server, "email")) == 2
    assert redis_server.client().zcard(keys.SURVEYS_SENT) == 2


async def test_a_resolution_event_processed_twice_asks_once(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path)
    r = redis_server.client()
    q = Queue("events", connection=r, serializer=JSONSerializer)
    for key in [k.decode() for k in r.scan_iter("rq:job:event-*")]:
        job = q.fetch_job(key.removeprefix("rq:job:"))
        assert job is not None
        q.enqueue_job(job)  # the backend redelivered every event
    work(config_path)
    assert survey(redis_server, conv)["state"] == "sent"
    assert len(parked(redis_server, "email")) == 1
