"""A ticket system that fails: down for a long while, rate-limiting, refusing a request, refusing our credentials,
or answering after the worker died. Nothing is lost, nothing is made twice, and an operator sees why.

Real worker processes against the webhook receiver (tests/support/webhook_receiver.py); an hour's outage is
compressed by `backends.outages` (holds of 1 to 2 s) against `jobs.retry_intervals` of [0, 0], which would
dead-letter a request within a second if a hold spent its tries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from tests.channels.twilio_support import sms_gateway, text_in
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import OPERATOR, intake, settings_from, start_worker
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.webhook_receiver import Scripted, WebhookReceiver
from tests.workers.backends.webhook_support import wait_until, webhook_config


def failed(redis_server: RedisServer) -> list[str]:
    q = Queue("deliver-webhook", connection=redis_server.client(), serializer=JSONSerializer)
    return list(FailedJobRegistry(queue=q).get_job_ids())


async def post_forms(config: Path, *keys_: str) -> list[str]:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        ids = []
        for key in keys_:
            resp = await gw.post_form(form(message=f"The bus did not come ({key})."), key=key)
            assert resp.status == 202
            ids.append((await resp.json())["request_id"])
        return ids
    finally:
        await http.close()
        await server.close()


@contextmanager
def running_worker(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    worker = start_worker(config, log)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)


def refused_creates(receiver: WebhookReceiver) -> list[object]:
    return [c for c in receiver.calls("ticket.create") if c.status == 503]


def acknowledgements(redis_server: RedisServer, request_id: str) -> list[str]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    entries = [json.loads(x) for x in r.lrange(keys.timeline(conv.decode()), 0, -1)]
    return [e["reply_event"] for e in entries if e["event"] == "reply"]


async def test_a_system_down_far_longer_than_the_tries_last_loses_nothing_and_makes_each_ticket_once(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    receiver.down = True
    ids = await post_forms(config, "o-1", "o-2", "o-3", "o-4")
    with running_worker(config, tmp_path / "worker.log"):
        wait_until("the circuit opens", lambda: redis_server.client().exists(keys.backend_circuit("webhook")) == 1)
        doctor = intake(config, "doctor")
        # Eight probes at holds of 1-2 s: retries of [0, 0] alone would have dead-lettered all four long before.
        wait_until("the system is probed again and again", lambda: len(refused_creates(receiver)) >= 8, timeout=120)
        assert failed(redis_server) == [] and receiver.tickets == {}
        receiver.down = False
        wait_until("every request has its ticket", lambda: len(receiver.tickets) == 4, timeout=120)
        wait_until("every family is told", lambda: all(acknowledgements(redis_server, i) for i in ids))
    assert "[FAIL] backend webhook: down since" in doctor.stdout
    assert "4 request(s) waiting to be delivered" in doctor.stdout
    assert sorted(t["request_id"] for t in receiver.tickets.values()) == sorted(ids)
    assert len(receiver.calls("ticket.create")) == len(refused_creates(receiver)) + 4  # each made by one call
    assert failed(redis_server) == []
    assert all(acknowledgements(redis_server, i) == ["received"] for i in ids)
    assert redis_server.client().exists(keys.backend_circuit("webhook")) == 0


async def test_a_worker_killed_between_the_systems_201_and_our_record_still_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    [request_id] = await post_forms(config, "kill")
    receiver.hold_create = True  # the ticket is made; its answer is still on the way when the worker dies
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        assert receiver.created_event.wait(60), "the worker never asked for the ticket"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    assert redis_server.client().hget(keys.request(request_id), "ticket_ref") is None  # we never heard the 201
    receiver.hold_create = False
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    creates = receiver.calls("ticket.create")
    assert len(creates) == 2 and {c.headers["Idempotency-Key"] for c in creates} == {request_id}
    assert list(receiver.tickets) == ["WH-1"]
    assert redis_server.client().hget(keys.request(request_id), "ticket_ref") == b"WH-1"
    assert acknowledgements(redis_server, request_id) == ["received"]


async def test_a_rate_limit_is_waited_out_with_or_without_retry_after(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    receiver.script = [Scripted(429, "ticket.create", {"error": "slow down"}, {"Retry-After": "3"}),
                       Scripted(429, "ticket.create", {"error": "per-user limit"})]  # fmt: skip
    await post_forms(config, "busy")
    with running_worker(config, tmp_path / "worker.log"):
        wait_until("the ticket is made", lambda: len(receiver.tickets) == 1)
    first, second, third = (c.at for c in receiver.calls("ticket.create"))
    assert second - first >= 3.0  # its Retry-After
    assert third - second >= 1.0  # none given: backends.outages.rate_limit_wait_s
    assert failed(redis_server) == []


async def test_a_refusal_is_dead_lettered_at_once_with_the_systems_own_words_and_replayed_once_fixed(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    receiver.script = [Scripted(422, "ticket.create", {"error": "unknown queue 'Transport'"})]
    await post_forms(config, "refused")
    assert intake(config, "worker", "--burst").returncode == 0
    assert len(receiver.calls("ticket.create")) == 1  # not retried: asking again cannot help
    assert len(failed(redis_server)) == 1
    why = "BackendRefused: webhook: ticket.create: 422 unknown queue 'Transport'"
    doctor = intake(config, "doctor")
    assert doctor.returncode == 1 and why in doctor.stdout
    assert "[ok  ] backend webhook" in doctor.stdout  # it answered: the system itself is up
    replay = intake(config, "replay")
    assert "replayed 1 job(s)" in replay.stdout and why in replay.stdout
    assert intake(config, "worker", "--burst").returncode == 0
    assert list(receiver.tickets) == ["WH-1"] and failed(redis_server) == []


async def test_refused_credentials_show_in_doctor_and_readyz_and_the_request_waits_for_the_fix(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    receiver.credentials_refused = True
    await post_forms(config, "auth")
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        with running_worker(config, tmp_path / "worker.log"):
            wait_until("the circuit says so", lambda: redis_server.client().exists(keys.backend_circuit("webhook")))
            async with http.get(server.make_url("/readyz"), headers=OPERATOR) as resp:
                ready = await resp.json()
            doctor = intake(config, "doctor")
            receiver.credentials_refused = False  # the operator puts a new token in place
            wait_until("the fixed credentials deliver it", lambda: len(receiver.tickets) == 1)
            # the worker closes the circuit once the system's answer is back, a moment after the receiver has the ticket
            wait_until("the circuit closes", lambda: not redis_server.client().exists(keys.backend_circuit("webhook")))
        async with http.get(server.make_url("/readyz"), headers=OPERATOR) as resp:
            after = await resp.json()
    finally:
        await http.close()
        await server.close()
    assert ready["status"] == "degraded" and ready["backends"]["webhook"]["state"] == "auth_failed"
    assert "token expired" in ready["backends"]["webhook"]["problem"]
    assert "[FAIL] backend webhook: refusing our credentials since" in doctor.stdout
    assert after["status"] == "ok" and after["backends"] == {"webhook": {"ok": True, "state": "up", "problem": ""}}
    assert failed(redis_server) == []


def test_check_config_and_doctor_reach_the_receiver_and_name_what_is_wrong(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    ok = intake(config, "check-config")
    assert ok.returncode == 0, ok.stderr
    assert "backend webhook: ok" in ok.stdout
    assert [c.event for c in receiver.received] == ["ping"] and receiver.received[0].signed
    receiver.script = [Scripted(403, "ping", {"error": "this secret is not ours"})]
    refused = intake(config, "check-config")
    assert refused.returncode == 2
    assert "backend webhook: ping: 403 this secret is not ours (INTAKE_WEBHOOK_URL, INTAKE_WEBHOOK_SECRET)" in (
        refused.stderr
    )


async def test_a_follow_up_held_with_its_request_becomes_a_comment_on_the_ticket_the_request_opens(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn
) -> None:
    """Held requests come back in any order; a follow-up that comes back first waits for its ticket."""
    config = webhook_config(tmp_path, redis_server, receiver, standin)
    receiver.down = True
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        await text_in(gw, "It came 40 minutes late")
    with running_worker(config, tmp_path / "worker.log"):
        wait_until("both are held a while", lambda: len(refused_creates(receiver)) >= 4, timeout=120)
        receiver.down = False
        wait_until("the follow-up is on the ticket", lambda: bool(receiver.tickets and receiver.comments("WH-1")))
    [ticket] = receiver.tickets.values()
    assert ticket["create"]["text"] == "The bus did not come"
    assert [c["text"] for c in receiver.comments("WH-1")] == ["It came 40 minutes late"]
    assert failed(redis_server) == []
