"""Texts end to end: the web app, real rq workers, the built-in tickets, and replies through the official
twilio Client to the local stand-in. Consent, threading by sender, NEW and STATUS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import keys
from gateway.outbox.consent import history, is_suppressed
from tests.channels.twilio_support import (
    MAIN,
    PARENT,
    PUBLIC,
    SPANISH,
    sms_gateway,
    text_in,
    texts,
    tickets,
    twilio_config,
    work,
)
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

HOOK = "/hooks/twilio/sms"


async def test_a_text_becomes_a_ticket_and_is_acknowledged_from_the_number_the_parent_texted(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
    work(config)
    [ticket] = tickets(config)
    assert ticket["channel"] == "sms" and ticket["requester_phone"] == PARENT
    [ack] = texts(standin)
    assert (ack["To"], ack["From"]) == (PARENT, SPANISH)
    assert ack["Body"].startswith("Recibimos su mensaje: solicitud #1")
    assert ack["StatusCallback"] == PUBLIC + "/hooks/twilio/status"
    assert all(r.authorized for r in standin.requests)


async def test_a_second_text_continues_the_open_conversation_by_sender(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        await text_in(gw, "It came 40 minutes late")
        await text_in(gw, "Another parent, another question", From="+15557770000")
    work(config)
    assert len(tickets(config)) == 2  # the other parent is never merged in
    shown = intake(config, "tickets", "show", "1").stdout
    assert "It came 40 minutes late" in shown
    r = redis_server.client()
    evidences = sorted(r.hget(k, "evidence").decode() for k in r.scan_iter("ig:req:*"))  # type: ignore[union-attr]
    assert evidences == ["new", "new", "sender_continuity"]
    assert len(texts(standin)) == 2  # one acknowledgement per new request, none for the follow-up


async def test_after_resolution_a_new_text_opens_a_new_request_and_says_so(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        assert intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", "Fixed.").returncode == 0
        work(config)
        await text_in(gw, "Now the Wi-Fi is down")
    work(config)
    assert [t["id"] for t in tickets(config)] == [2, 1]
    bodies = [t["Body"] for t in texts(standin)]
    assert bodies[1] == "Request #1 is resolved. Fixed. Still a problem? Text NEW and tell us."
    assert bodies[2].startswith("Your last request was resolved, so this is a new one. We got your text: request #2")


async def test_the_new_keyword_forces_a_new_request(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        await text_in(gw, "new My daughter's laptop screen is cracked")
    work(config)
    listed = tickets(config)
    assert len(listed) == 2
    assert "laptop screen is cracked" in intake(config, "tickets", "show", "2").stdout


@pytest.mark.parametrize("word", ["STOP", " stop ", "Unsubscribe", "PARAR", "quit."])
async def test_a_stop_word_is_consent_not_a_ticket(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, word: str
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, word)
    work(config)
    assert tickets(config) == []
    assert texts(standin) == []  # Twilio's own opt-out reply is the only one
    r = redis_server.client()
    assert is_suppressed(r, PARENT)
    [change] = history(r, PARENT)
    assert change["state"] == "opted_out" and change["number"] == "main" and change["how"].startswith("keyword")


async def test_stop_the_bus_from_leaving_early_is_a_request(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "Stop the bus from leaving early")
    work(config)
    assert len(tickets(config)) == 1
    assert not is_suppressed(redis_server.client(), PARENT)


async def test_stop_on_one_number_silences_every_number_even_for_an_update_already_queued(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús no pasó", To=SPANISH)
        work(config)
        assert len(texts(standin)) == 1
        # The update is queued first; the STOP (to another district number) arrives before it is sent.
        assert intake(config, "tickets", "update", "1", "--status", "in_progress").returncode == 0
        await text_in(gw, "STOP", To=MAIN)
        work(config)
        assert len(texts(standin)) == 1
        await text_in(gw, "START", To=MAIN)
        work(config)
        assert intake(config, "tickets", "update", "1", "--status", "waiting").returncode == 0
    work(config)
    assert [t["Body"] for t in texts(standin)][1:] == ["Solicitud #1: esperando su respuesta."]
    r = redis_server.client()
    assert [c["state"] for c in history(r, PARENT)] == ["opted_out", "opted_in"]
    outcomes = [json.loads(e)["event"] for e in r.lrange(keys.timeline(_conversation(r)), 0, -1)]
    assert outcomes.count("sms_sent") == 2


def _conversation(r: object) -> str:
    import redis as redis_lib

    assert isinstance(r, redis_lib.Redis)
    [key] = [k.decode() for k in r.scan_iter("ig:sms:convs:*")]
    [conv] = r.zrange(key, 0, -1)
    return str(conv.decode())


async def test_help_answers_with_the_configured_text_and_status_lists_open_requests(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        await text_in(gw, "Wi-Fi at home is down", To=SPANISH)
        work(config)
        assert intake(config, "tickets", "update", "2", "--status", "in_progress").returncode == 0
        work(config)
        await text_in(gw, "help")
        await text_in(gw, "Status")
    work(config)
    assert len(tickets(config)) == 2
    bodies = [t["Body"] for t in texts(standin)]
    assert bodies[-2].startswith("District Help Desk: text your question to this number.")
    assert bodies[-1] == "Your open requests: #2 in progress; #1 received."


async def test_a_text_to_a_messaging_service_is_answered_through_that_service(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    from tests.channels.twilio_support import SERVICE

    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "Is school open tomorrow?", To="+15555550177", MessagingServiceSid=SERVICE)
    work(config)
    [ack] = texts(standin)
    assert ack["MessagingServiceSid"] == SERVICE and "From" not in ack


async def test_a_keyword_in_spanish_is_answered_in_spanish_on_an_english_number(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "Ayuda", To=MAIN)
        await text_in(gw, "ESTADO", To=MAIN)
    work(config)
    bodies = sorted(t["Body"] for t in texts(standin))
    assert bodies == ["Mesa de ayuda del distrito: escriba su pregunta a este número. STOP para no recibir mensajes, "
                      "NUEVO para otra solicitud, ESTADO para novedades.",
                      "No tiene solicitudes abiertas. Escríbanos su pregunta para empezar una."]  # fmt: skip
