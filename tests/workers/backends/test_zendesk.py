"""Zendesk end to end, against its local stand-in (tests/support/zendesk_api.py): the web app, real worker processes,
texts through the Twilio stand-in, agents answering through the webhook's signed ticket events, the
Idempotency-Key, and a 429 with no Retry-After."""

from __future__ import annotations

import base64
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway import keys
from gateway.settings import load_settings
from tests.channels.twilio_support import PARENT, SPANISH, sms_gateway, text_in, texts, work
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import REPO, intake, settings_from, start_worker
from tests.support.helpdesk import Scripted
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.zendesk_api import GROUPS, ZendeskStandIn
from tests.workers.backends.helpdesk_support import (
    event_jobs,
    helpdesk_config,
    point_at,
    request_ids,
    status_page,
    ticket_of,
)
from tests.workers.backends.test_delivery_faults import running_worker
from tests.workers.backends.webhook_support import wait_until
from workers.backends.zendesk import ZendeskBackend

ANSWER = "El autobús 12 pasará mañana a las 7:40; el conductor ya sabe de su parada."


async def post_form(config: Path, **fields: object) -> None:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form(**fields))).status == 202
    finally:
        await http.close()
        await server.close()


async def test_a_text_its_follow_up_the_agents_answer_and_the_resolution_go_both_ways(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zendesk, standin)
    async with sms_gateway(config) as gw:
        point_at(zendesk, gw)
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [rid] = request_ids(redis_server)
        [ticket] = zendesk.all_tickets()
        data = ticket.data
        assert (data["external_id"], data["group_id"], data["priority"]) == (rid, GROUPS["Transportation"], "normal")
        assert data["subject"] == "El autobús 12 no pasó hoy" and {"intake", "sms"} <= set(data["tags"])
        requester = zendesk.users[data["requester_id"]]
        assert (requester["phone"], requester["external_id"], requester["role"]) == (
            PARENT, f"intake:tel:{PARENT}", "end-user"
        )  # fmt: skip
        [create] = zendesk.calls("POST", "/api/v2/tickets.json")
        assert create.headers["Idempotency-Key"] == rid

        await text_in(gw, "Llegó 40 minutos tarde", To=SPANISH)
        work(config)
        follow_up = ticket.comments[1]
        assert follow_up["body"].split("\n\n")[0] == "Llegó 40 minutos tarde"
        assert (follow_up["public"], follow_up["author_id"]) == (True, data["requester_id"])  # the family's words

        answered = await zendesk.agent_comment(ticket.id, ANSWER)
        noted = await zendesk.agent_comment(ticket.id, "Driver Okafor was late again", public=False)
        solved = await zendesk.set_status(ticket.id, "solved")
        assert [s.answers for s in (*answered, *noted, solved)] == [[200], [200], [200]]
        work(config)
        bodies = [t["Body"] for t in texts(standin)]
        assert bodies[0].startswith("Recibimos su mensaje")
        assert bodies[1:] == [
            f"Solicitud #{ticket.id}, respuesta de la mesa de ayuda: {ANSWER}",
            f"Solicitud #{ticket.id} resuelta. ¿Sigue el problema? Escriba NUEVO y cuéntenos.",
        ]
        html = await status_page(gw, rid)
    assert 'data-status="resolved"' in html and ANSWER in html and "Okafor" not in html


async def test_a_forged_or_stale_event_is_refused_and_changes_nothing(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zendesk)
    await post_form(config)
    work(config)
    [ticket] = zendesk.all_tickets()
    ticket.data["status"] = "solved"
    event = zendesk._event("event_status_changed.json", ticket)
    body, headers = zendesk.signed(event)
    stale_body, stale = zendesk.signed(event, datetime.now(UTC) - timedelta(seconds=301))
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        url = str(server.make_url("/backends/zendesk/events"))
        forged = {
            "wrong secret": (body, {**headers, "X-Zendesk-Webhook-Signature": base64.b64encode(b"x" * 32).decode()}),
            "unsigned": (body, {k: v for k, v in headers.items() if k != "X-Zendesk-Webhook-Signature"}),
            "no timestamp": (body, {k: v for k, v in headers.items() if "Timestamp" not in k}),
            "timestamp changed": (body, {**headers, "X-Zendesk-Webhook-Signature-Timestamp": stale[
                "X-Zendesk-Webhook-Signature-Timestamp"]}),
            "signed 301 s ago": (stale_body, stale),
            "body changed after signing": (body.replace(b"SOLVED", b"OPEN  "), headers),
        }  # fmt: skip
        for case, (raw, sent) in forged.items():
            async with http.post(url, data=raw, headers=sent) as resp:
                assert resp.status == 401, case
        assert event_jobs(redis_server) == []
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
    finally:
        await http.close()
        await server.close()
    assert len(event_jobs(redis_server)) == 1


async def test_a_redelivered_event_tells_the_family_once(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zendesk, standin)
    async with sms_gateway(config) as gw:
        point_at(zendesk, gw)
        await text_in(gw, "The bus did not come")
        work(config)
        [ticket] = zendesk.all_tickets()
        [sent] = await zendesk.agent_comment(ticket.id, "On it.")
        await zendesk.resend(sent)
        work(config)
        await zendesk.resend(sent)
        work(config)
    assert sent.answers == [200, 200, 200]
    assert [t["Body"] for t in texts(standin)][1:] == [f"Request #{ticket.id}, answer from the help desk: On it."]


async def test_a_worker_killed_between_zendesks_201_and_our_record_still_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    """The retry sends the same Idempotency-Key; its new upload token makes the body differ, which Zendesk refuses,
    and the ticket is found by its external id."""
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    files = [{"filename": "parada.png", "content_type": "image/png", "data_base64": base64.b64encode(photo).decode()}]
    config = helpdesk_config(tmp_path, redis_server, zendesk)
    await post_form(config, attachments=files)
    [rid] = request_ids(redis_server)
    zendesk.hold = ("POST", "/api/v2/tickets.json")
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        assert zendesk.held.wait(60), "the worker never asked Zendesk for the ticket"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    assert ticket_of(redis_server, rid) is None and len(zendesk.all_tickets()) == 1
    zendesk.hold = None
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    [ticket] = zendesk.all_tickets()
    assert ticket_of(redis_server, rid) == str(ticket.id)
    assert [c.query for c in zendesk.calls("GET", "/api/v2/tickets.json")] == [{"external_id": rid}]
    [attached] = ticket.comments[0]["attachments"]
    assert attached["data"] == photo


async def test_the_same_idempotency_key_and_body_answer_the_ticket_already_made(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    """No attempt note (a Redis restored from before the call): the Idempotency-Key alone keeps it to one ticket."""
    config = helpdesk_config(tmp_path, redis_server, zendesk)
    await post_form(config)
    [rid] = request_ids(redis_server)
    zendesk.hold = ("POST", "/api/v2/tickets.json")
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        assert zendesk.held.wait(60)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    zendesk.hold = None
    assert redis_server.client().delete(keys.backend_attempt("zendesk", rid)) == 1
    assert intake(config, "worker", "--burst").returncode == 0
    [ticket] = zendesk.all_tickets()
    assert ticket_of(redis_server, rid) == str(ticket.id)
    assert [c.status for c in zendesk.calls("POST", "/api/v2/tickets.json")] == [0, 201]  # the first never answered
    assert zendesk.calls("GET", "/api/v2/tickets.json") == []


async def test_a_429_without_retry_after_is_backed_off_all_the_same(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    """Zendesk's per-user limit answers 429 with no Retry-After: the circuit waits rate_limit_wait_s (1 s here)."""
    config = helpdesk_config(tmp_path, redis_server, zendesk)
    per_user = {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}
    zendesk.script = [Scripted(429, "POST", "/api/v2/tickets.json", per_user),
                      Scripted(429, "POST", "/api/v2/tickets.json", per_user)]  # fmt: skip
    await post_form(config)
    with running_worker(config, tmp_path / "worker.log"):
        wait_until("the ticket is made", lambda: len(zendesk.all_tickets()) == 1)
    first, second, third = (c.at for c in zendesk.calls("POST", "/api/v2/tickets.json"))
    assert second - first >= 1.0 and third - second >= 2.0  # waited, and longer the second time


def test_check_config_reaches_zendesk_and_names_what_is_wrong(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    ok = intake(helpdesk_config(tmp_path, redis_server, zendesk), "check-config")
    assert ok.returncode == 0, ok.stderr
    assert "backend zendesk: ok" in ok.stdout
    (tmp_path / "token").mkdir()
    refused = intake(helpdesk_config(tmp_path / "token", redis_server, zendesk, token="wrong"), "check-config")
    assert refused.returncode == 2
    assert ("backends.zendesk.email, token (ZENDESK_EMAIL, ZENDESK_TOKEN): Zendesk refused them: users.me: 401 "
            "Couldn't authenticate you") in refused.stderr  # fmt: skip
    (tmp_path / "map").mkdir()
    wrong = helpdesk_config(tmp_path / "map", redis_server, zendesk, group="Buses",
                            map={"custom_fields": {"school": "360099999999"}})  # fmt: skip
    named = intake(wrong, "check-config")
    assert "backends.zendesk.group: Zendesk has no group 'Buses'" in named.stderr
    assert "backends.zendesk.map.custom_fields.school: Zendesk has no ticket field 360099999999" in named.stderr


async def test_a_group_zendesk_refuses_is_dead_lettered_with_zendesks_words(
    tmp_path: Path, redis_server: RedisServer, zendesk: ZendeskStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zendesk, map={"queue": {"transportation": "Buses"}})
    await post_form(config)
    work(config)
    doctor = intake(config, "doctor")
    assert "BackendRefused: zendesk: no group 'Buses' in Zendesk (known: IT Help, Transportation)" in doctor.stdout
    assert zendesk.all_tickets() == []


def test_the_backend_switches_on_from_the_environment_alone() -> None:
    shipped = REPO / "config" / "gateway.yaml"
    env = {"ZENDESK_URL": "https://district.zendesk.com", "ZENDESK_EMAIL": "intake@district.example.org",
           "ZENDESK_TOKEN": "t" * 40}  # fmt: skip
    assert ZendeskBackend.enabled(load_settings(shipped, env=env))
    for missing in env:
        assert not ZendeskBackend.enabled(load_settings(shipped, env={k: v for k, v in env.items() if k != missing}))
