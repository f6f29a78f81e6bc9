"""Zammad end to end, against its local stand-in (tests/support/zammad_api.py): the web app, real worker processes,
texts through the Twilio stand-in, and Zammad's agents answering through its signed trigger webhooks."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

import pytest

from gateway.settings import load_settings
from tests.channels.twilio_support import PARENT, SPANISH, sms_gateway, text_in, texts, work
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import REPO, intake, settings_from, start_worker
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.zammad_api import ZammadStandIn
from tests.workers.backends.helpdesk_support import (
    event_jobs,
    helpdesk_config,
    point_at,
    request_ids,
    status_page,
    ticket_of,
)
from workers.backends.zammad import ZammadBackend

ANSWER = "El autobús 12 pasará mañana a las 7:40; el conductor ya sabe de su parada."


async def test_a_text_its_follow_up_the_agents_answer_and_the_resolution_go_both_ways(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zammad, standin)
    async with sms_gateway(config) as gw:
        point_at(zammad, gw)
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [rid] = request_ids(redis_server)
        [ticket] = zammad.all_tickets()
        data = ticket.data
        assert (data["intake_request"], data["group_id"], data["title"]) == (rid, 2, "El autobús 12 no pasó hoy")
        assert zammad.customer(ticket)["mobile"] == PARENT and "sms" in data["tags"].split(",")
        [first] = ticket.articles
        assert (first["sender"], first["internal"], first["type"]) == ("Customer", False, "note")
        assert first["body"].startswith("El autobús 12 no pasó hoy\n\nRequester: ")
        assert ticket_of(redis_server, rid) == str(ticket.id)

        await text_in(gw, "Llegó 40 minutos tarde", To=SPANISH)
        work(config)
        follow_up = ticket.articles[1]
        assert follow_up["body"].split("\n\n")[0] == "Llegó 40 minutos tarde"
        assert (follow_up["internal"], follow_up["sender"]) == (False, "Customer")
        assert follow_up["origin_by_id"] == data["customer_id"]  # shown as the family's own words
        assert len(zammad.all_tickets()) == 1

        answered = await zammad.agent_reply(ticket.id, f"<div>{ANSWER}</div>")
        noted = await zammad.agent_reply(ticket.id, "<div>Driver Okafor was late again</div>", internal=True)
        closed = await zammad.set_state(ticket.id, "closed")
        assert (answered.answers, noted.answers, closed.answers) == ([200], [200], [200])
        work(config)
        bodies = [t["Body"] for t in texts(standin)]
        assert bodies[0].startswith("Recibimos su mensaje")
        assert bodies[1:] == [
            f"Solicitud #{ticket.id}, respuesta de la mesa de ayuda: {ANSWER}",
            f"Solicitud #{ticket.id} resuelta. ¿Sigue el problema? Escriba NUEVO y cuéntenos.",
        ]
        assert all(t["To"] == PARENT and t["From"] == SPANISH for t in texts(standin))
        html = await status_page(gw, rid)
    assert 'data-status="resolved"' in html and ANSWER in html and "Okafor" not in html


async def test_a_forged_or_unsigned_webhook_is_refused_and_changes_nothing(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zammad)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        assert (await gw.post_form(form())).status == 202
        work(config)
        [ticket] = zammad.all_tickets()
        url = gw.base + "/backends/zammad/events"
        ticket.data["state_id"] = 4  # closed in Zammad; only a genuine webhook may say so
        body, headers = zammad.state_webhook(ticket.id)
        forged = {
            "wrong secret": (body, {**headers, "X-Hub-Signature": "sha1=" + "0" * 40}),
            "unsigned": (body, {k: v for k, v in headers.items() if k != "X-Hub-Signature"}),
            "not sha1": (body, {**headers, "X-Hub-Signature": headers["X-Hub-Signature"].replace("sha1", "md5")}),
            "body changed after signing": (body.replace(b'"closed"', b'"open"  '), headers),
        }
        for case, (raw, sent) in forged.items():
            async with http.post(url, data=raw, headers=sent) as resp:
                assert resp.status == 401, case
        no_delivery = {k: v for k, v in headers.items() if k != "X-Zammad-Delivery"}
        async with http.post(url, data=body, headers=no_delivery) as resp:
            assert resp.status == 400 and "X-Zammad-Delivery" in (await resp.json())["message"]
        assert event_jobs(redis_server) == []
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200  # the same body, signed right: the checks above refused only the forgeries
    finally:
        await http.close()
        await server.close()
    assert len(event_jobs(redis_server)) == 1


async def test_a_redelivered_webhook_tells_the_family_once(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zammad, standin)
    async with sms_gateway(config) as gw:
        point_at(zammad, gw)
        await text_in(gw, "The bus did not come")
        work(config)
        [ticket] = zammad.all_tickets()
        sent = await zammad.agent_reply(ticket.id, "<p>On it.</p>")
        again = await zammad.resend(sent)
        work(config)
        once_more = await zammad.resend(sent)  # after the event's jobs are done, too
        work(config)
    assert sent.answers == again.answers == once_more.answers == [200, 200, 200]  # the one Sent, sent three times
    assert [t["Body"] for t in texts(standin)][1:] == [f"Request #{ticket.id}, answer from the help desk: On it."]


async def test_a_worker_killed_between_zammads_201_and_our_record_still_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn
) -> None:
    """Zammad's search trails its writes: the retry must find the ticket in Zammad's list of the newest."""
    zammad.index_delay_s = 3600
    config = helpdesk_config(tmp_path, redis_server, zammad)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form())).status == 202
    finally:
        await http.close()
        await server.close()
    [rid] = request_ids(redis_server)
    zammad.hold = ("POST", "/api/v1/tickets")
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        assert zammad.held.wait(60), "the worker never asked Zammad for the ticket"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    assert ticket_of(redis_server, rid) is None and len(zammad.all_tickets()) == 1
    zammad.hold = None
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    [ticket] = zammad.all_tickets()
    assert ticket_of(redis_server, rid) == str(ticket.id)
    assert len(zammad.calls("POST", "/api/v1/tickets")) == 1
    assert len(zammad.calls("GET", "/api/v1/tickets/search")) == 2  # each try searched; the index had nothing


async def test_the_ticket_names_our_fields_in_zammads_and_carries_the_files(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zammad, map={"custom_fields": {"school": "school"},
                                                                  "priority": {"normal": "3 high"}})  # fmt: skip
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        files = [
            {"filename": "parada.png", "content_type": "image/png", "data_base64": base64.b64encode(photo).decode()}
        ]
        assert (await Gateway(server, http, settings).post_form(form(attachments=files))).status == 202
    finally:
        await http.close()
        await server.close()
    work(config)
    [ticket] = zammad.all_tickets()
    assert (ticket.data["school"], ticket.data["priority_id"]) == ("lhs", 3)
    assert zammad.customer(ticket)["email"] == "ana.perez@example.org"  # found or made by Zammad: guess:<email>
    [attached] = ticket.articles[0]["attachments"]
    assert (attached["filename"], attached["data"]) == ("parada.png", photo)


def test_check_config_reaches_zammad_and_names_what_is_wrong(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn
) -> None:
    ok = intake(helpdesk_config(tmp_path, redis_server, zammad), "check-config")
    assert ok.returncode == 0, ok.stderr
    assert "backend zammad: ok" in ok.stdout
    (tmp_path / "bad").mkdir()
    bad = helpdesk_config(tmp_path / "bad", redis_server, zammad, token="wrong", group="Buses")
    refused = intake(bad, "check-config")
    assert refused.returncode == 2
    assert "backends.zammad.token (ZAMMAD_TOKEN): Zammad refused it: users.me: 401 Authentication failed!" in (
        refused.stderr
    )
    (tmp_path / "group").mkdir()
    unknown = helpdesk_config(tmp_path / "group", redis_server, zammad, group="Buses", webhook_secret="")
    named = intake(unknown, "check-config")
    assert "backends.zammad.group (ZAMMAD_GROUP): Zammad has no active group 'Buses'" in named.stderr
    assert "backends.zammad.webhook_secret (ZAMMAD_WEBHOOK_SECRET): not set" in named.stderr


async def test_a_group_zammad_does_not_have_is_dead_lettered_with_zammads_words(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, zammad, map={"queue": {"transportation": "Buses"}})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form())).status == 202
    finally:
        await http.close()
        await server.close()
    work(config)
    doctor = intake(config, "doctor")
    assert """BackendRefused: zammad: ticket.create: 422 No lookup value found for 'group': "Buses\"""" in doctor.stdout
    assert zammad.all_tickets() == []


def test_the_backend_switches_on_from_the_environment_alone() -> None:
    shipped = REPO / "config" / "gateway.yaml"
    env = {"ZAMMAD_URL": "https://helpdesk.district.example.org", "ZAMMAD_TOKEN": "t" * 40, "ZAMMAD_GROUP": "Users"}
    assert ZammadBackend.enabled(load_settings(shipped, env=env))
    for missing in env:
        assert not ZammadBackend.enabled(load_settings(shipped, env={k: v for k, v in env.items() if k != missing}))


@pytest.mark.parametrize("url", ["helpdesk.district.example.org", "ftp://helpdesk"])
def test_a_zammad_url_that_is_not_one_stops_the_gateway_naming_the_key(
    tmp_path: Path, redis_server: RedisServer, zammad: ZammadStandIn, url: str
) -> None:
    out = intake(helpdesk_config(tmp_path, redis_server, zammad, url=url), "check-config")
    assert out.returncode == 2
    assert "key backends.zammad.url: Value error, expected Zammad's address, starting with https://" in out.stderr
