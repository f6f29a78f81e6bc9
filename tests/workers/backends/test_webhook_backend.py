"""The generic `webhook` backend end to end: the web app, real rq workers, replies through the Twilio stand-in,
and a receiver on the other side that checks our signatures and records what it got."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway import keys
from gateway.models import TicketStatus
from gateway.web.status_links import public_base, status_url
from tests.channels.twilio_support import PARENT, SPANISH, sms_gateway, text_in, texts, work
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.webhook_receiver import WebhookReceiver, sign
from tests.workers.backends.webhook_support import SECRET, post_event, webhook_config
from workers.backends.webhook import WebhookBackend

ANSWER = "El autobús 12 pasará mañana a las 7:40; el conductor ya sabe de su parada."


async def test_a_text_its_follow_up_the_staff_answer_and_the_resolution_go_both_ways(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [create] = receiver.calls("ticket.create")
        assert create.signed and create.headers["Idempotency-Key"] == create.body["request_id"]
        assert (create.body["text"], create.body["channel"]) == ("El autobús 12 no pasó hoy", "sms")
        assert create.body["requester"]["phone"] == PARENT and create.body["language"] == "es"

        await text_in(gw, "Llegó 40 minutos tarde", To=SPANISH)
        work(config)
        assert [c["text"] for c in receiver.comments("WH-1")] == ["Llegó 40 minutos tarde"]
        assert receiver.comments("WH-1")[0]["public"] is True

        # Staff open it, answer without changing its status, then resolve it: three signed events.
        events = [
            {"delivery_id": "d-1", "ticket_ref": "WH-1", "status": "open"},
            {"delivery_id": "d-2", "ticket_ref": "WH-1", "status": "open", "comment": ANSWER, "public": True},
            {"delivery_id": "d-3", "ticket_ref": "WH-1", "status": "resolved", "comment": "Listo.", "public": True},
        ]
        assert [await post_event(gw.http, gw.base, **e) for e in events] == [200, 200, 200]
        work(config)
        bodies = [t["Body"] for t in texts(standin)]
        assert bodies[0].startswith("Recibimos su mensaje")
        assert bodies[1:] == [
            "Solicitud #WH-1: abierta.",
            f"Solicitud #WH-1, respuesta de la mesa de ayuda: {ANSWER}",
            "Solicitud #WH-1 resuelta. Listo. ¿Sigue el problema? Escriba NUEVO y cuéntenos.",
        ]
        link = status_url(public_base(gw.settings), gw.settings.signing_key(), create.body["request_id"])
        async with gw.http.get(gw.base + urlsplit(link).path) as page:
            html = await page.text()
    assert 'data-status="resolved"' in html
    assert ANSWER in html and "La mesa de ayuda respondió:" in html


async def test_the_ticket_carries_the_request_in_the_receivers_own_names_with_its_files(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    fmap = {"queue": {"transportation": "Transport"}, "priority": {"normal": 3}, "custom_fields": {"school": "Site"}}
    config = webhook_config(tmp_path, redis_server, receiver, map=fmap)
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    server, http = await start_gateway(settings_from(config))
    try:
        gw = Gateway(server, http, settings_from(config))
        files = [{"filename": "bus.png", "content_type": "image/png", "data_base64": base64.b64encode(photo).decode()}]
        assert (await gw.post_form(form(attachments=files))).status == 202
    finally:
        await http.close()
        await server.close()
    work(config)
    [create] = receiver.calls("ticket.create")
    body = create.body
    assert (body["queue"], body["priority"], body["custom_fields"]) == ("Transport", 3, {"Site": "lhs"})
    assert body["route"]["queue"] == "transportation" and body["requester"]["email"] == "ana.perez@example.org"
    [file] = body["attachments"]
    assert (file["filename"], file["kept"], base64.b64decode(file["data_base64"])) == ("bus.png", True, photo)


async def test_a_staff_answer_is_told_once_however_often_the_receiver_sends_it(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        answer = {"delivery_id": "d-9", "ticket_ref": "WH-1", "status": "in_progress", "comment": "On it.",
                  "public": True}  # fmt: skip
        assert [await post_event(gw.http, gw.base, **answer) for _ in range(3)] == [200, 200, 200]
        work(config)
        assert await post_event(gw.http, gw.base, **answer) == 200  # after the jobs are gone, too
        work(config)
    assert [t["Body"] for t in texts(standin)][1:] == ["Request #WH-1 is now being worked on. On it."]


async def test_an_event_in_the_issues_own_shape_without_a_delivery_id_is_told_once_however_often_it_is_resent(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        rid = receiver.tickets["WH-1"]["request_id"]
        answer = {"request_id": rid, "ticket_ref": "WH-1", "status": "in_progress", "comment": "On it.",
                  "public": True}  # fmt: skip
        # A sender retrying re-signs the same body with the time of each try.
        sent = [await post_event(gw.http, gw.base, at=_now() - ago, **answer) for ago in (20, 10, 0)]
        assert sent == [200, 200, 200]
        resolved = {**answer, "status": "resolved", "comment": "Listo."}
        assert await post_event(gw.http, gw.base, **resolved) == 200
        work(config)
    assert [t["Body"] for t in texts(standin)][1:] == [
        "Request #WH-1 is now being worked on. On it.",
        "Request #WH-1 is resolved. Listo. Still a problem? Text NEW and tell us.",
    ]


async def test_an_internal_note_never_reaches_the_family(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        note = "Driver Okafor was late again, talk to him"
        events = [
            {"delivery_id": "n-1", "ticket_ref": "WH-1", "status": "open", "comment": note, "public": False},
            {"delivery_id": "n-2", "ticket_ref": "WH-1", "status": "open", "comment": note},  # public defaults off
        ]
        assert [await post_event(gw.http, gw.base, **e) for e in events] == [200, 200]
        work(config)
        link = status_url(public_base(gw.settings), gw.settings.signing_key(),
                          receiver.tickets["WH-1"]["request_id"])  # fmt: skip
        async with gw.http.get(gw.base + urlsplit(link).path) as page:
            html = await page.text()
    assert [t["Body"] for t in texts(standin)][1:] == ["Request #WH-1 is now open."]
    assert note not in html and 'data-status="open"' in html


async def test_an_incidents_child_is_linked_and_its_parents_status_set_by_signed_posts_once_each(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        for i in range(2):
            assert (await gw.post_form(form(message=f"The bus did not come ({i})."), key=f"inc-{i}")).status == 202
    finally:
        await http.close()
        await server.close()
    work(config)
    assert sorted(receiver.tickets) == ["WH-1", "WH-2"]
    backend = WebhookBackend.from_settings(settings)
    for _ in range(2):  # a retried job
        backend.link_child("WH-1", "WH-2")
        backend.set_status("WH-1", TicketStatus.RESOLVED, "Buses are back on schedule.", "incident", "inc-7-resolved")
    links, changes = receiver.calls("ticket.link"), receiver.calls("ticket.status")
    assert links[0].body == {"type": "ticket.link", "parent_ref": "WH-1", "child_ref": "WH-2"}
    assert {c.headers["Idempotency-Key"] for c in links} == {"link-WH-1-WH-2"}  # the receiver's key to apply once
    assert (changes[0].body["status"], changes[0].body["comment"], changes[0].body["change_id"]) == (
        "resolved", "Buses are back on schedule.", "inc-7-resolved"
    )  # fmt: skip
    assert {c.headers["Idempotency-Key"] for c in changes} == {"inc-7-resolved"}
    assert all(c.signed for c in links + changes)


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unsigned", 401),
        ("wrong secret", 401),
        ("signed 301 s ago", 401),
        ("signed 301 s ahead", 401),
        ("body changed after signing", 401),
        ("not json", 400),
        ("no status", 400),
        ("unknown status", 400),
    ],
)
async def test_an_event_that_is_not_signed_right_or_not_an_event_changes_nothing(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, case: str, status: int
) -> None:
    config = webhook_config(tmp_path, redis_server, receiver)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        assert (await gw.post_form(form())).status == 202
        work(config)
        good = {"delivery_id": "x-1", "ticket_ref": "WH-1", "status": "resolved", "comment": "Done.", "public": True}
        raw = json.dumps(good).encode()
        headers = {"X-Intake-Signature": sign(SECRET, raw), "Content-Type": "application/json"}
        if case == "unsigned":
            headers.pop("X-Intake-Signature")
        elif case == "wrong secret":
            headers["X-Intake-Signature"] = sign("guessed", raw)
        elif case.startswith("signed 301"):
            headers["X-Intake-Signature"] = sign(SECRET, raw, _now() + (-301 if "ago" in case else 301))
        elif case == "body changed after signing":
            raw = raw.replace(b"Done.", b"Gone.")
        else:
            bad = {"not json": None, "no status": "status", "unknown status": "status"}
            field = bad[case]
            changed = dict(good)
            if case == "unknown status":
                changed["status"] = "deleted"
            elif field:
                changed.pop(field)
            raw = b"{not json" if field is None else json.dumps(changed).encode()
            headers["X-Intake-Signature"] = sign(SECRET, raw)
        async with http.post(gw.base + "/backends/webhook/events", data=raw, headers=headers) as resp:
            answer = await resp.json()
            assert resp.status == status, answer
        if status == 400 and case != "not json":
            assert (field or "") in answer["message"]
    finally:
        await http.close()
        await server.close()
    r = redis_server.client()
    assert r.keys("rq:job:event-*") == []
    conv = r.get(keys.ticket("webhook", "WH-1"))
    assert conv is not None and r.hget(keys.conversation(conv.decode()), "status") == b"new"
