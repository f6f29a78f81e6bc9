"""Where a request's language is detected: at intake only when a rule routes on it, else in the worker."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.intake.languages import assign_language, detect_in_worker
from gateway.models import InboundMessage, Requester
from gateway.routing.router import Router
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer

SPANISH = "El autobús de las siete y diez no pasó hoy por la parada de la calle Lincoln."
LANGUAGE_RULE = """
rules:
  - id: spanish-speakers
    when: {language: [es]}
    then: {queue: bilingual}
"""


def sms(text: str, **fields: object) -> InboundMessage:
    base: dict[str, object] = {"id": "m", "channel": "sms", "account": "main", "sender": "+15553010001"}
    return InboundMessage.model_validate({**base, "text": text, "language": "en", **fields})


def test_intake_without_detection_keeps_the_channels_language_for_the_worker_to_refine() -> None:
    out = assign_language(sms(SPANISH), None, "en", detect=False)
    assert (out.language, out.language_source, out.requester.locale) == ("en", "channel", "en")
    refined = detect_in_worker(out)
    assert (refined.language, refined.language_source, refined.requester.locale) == ("es", "detected", "es")


def test_the_worker_never_overrides_a_language_the_requester_chose() -> None:
    chosen = assign_language(sms(SPANISH, language_source="chosen", language="vi"), None, "en", detect=False)
    refined = detect_in_worker(chosen)
    assert refined.language == "es"  # what the text is in, for staff and reports
    assert refined.requester.locale == "vi"  # what they asked to be answered in


def test_a_text_too_short_to_tell_keeps_what_intake_knew() -> None:
    out = assign_language(sms("ok", requester=Requester(locale="es")), None, "en", detect=False)
    assert detect_in_worker(out) is out


def test_the_router_asks_for_detection_only_when_a_rule_routes_on_language(tmp_path: Path) -> None:
    assert Router(settings_from(write_config(tmp_path, "redis://127.0.0.1:1/0"))).needs_language is False
    rules = tmp_path / "rules.yaml"
    rules.write_text(LANGUAGE_RULE)
    config = write_config(tmp_path, "redis://127.0.0.1:1/0", routing={"rules_file": str(rules)})
    assert Router(settings_from(config)).needs_language is True


async def test_a_web_form_in_spanish_without_a_language_is_answered_in_spanish(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url)
    server, http = await start_gateway(settings_from(config))
    gw = Gateway(server, http, settings_from(config))
    try:
        body = form(message=SPANISH, email="familia@example.org")
        del body["language"]
        assert (await gw.post_form(body)).status == 202
    finally:
        await http.close()
        await server.close()
    assert intake(config, "worker", "--burst").returncode == 0
    r = redis_server.client()
    [conv_key] = [k for k in r.scan_iter("ig:conv:*") if k.count(b":") == 2]
    assert r.hget(conv_key, "language") == b"es"
    replies = [json.loads(e) for e in r.lrange(conv_key + b":timeline", 0, -1)]
    [ack] = [e for e in replies if e.get("event") == "reply"]
    assert ack["language"] == "es"
    assert "Recibimos su solicitud" in ack["text"]


async def test_a_rule_on_language_routes_a_spanish_text_at_intake(tmp_path: Path, redis_server: RedisServer) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(LANGUAGE_RULE)
    config = write_config(tmp_path, redis_server.url, routing={"rules_file": str(rules)})
    server, http = await start_gateway(settings_from(config))
    gw = Gateway(server, http, settings_from(config))
    try:
        body = form(message=SPANISH)
        del body["language"]
        assert (await gw.post_form(body)).status == 202
        metrics = await (await gw.http.get(gw.base + "/metrics")).text()
    finally:
        await http.close()
        await server.close()
    assert 'intake_request_language_total{language="es",source="detected"} 1.0' in metrics
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1").stdout
    assert "bilingual" in shown
