"""What every channel has, on Meta's: media fetched by a worker (an expired WhatsApp URL asked for again), the
household a WhatsApp number belongs to, conversations kept apart from SMS, STATUS in the thread, routing rules
on the channel, and an incident's update fanned out to WhatsApp."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from channels.meta.replies import send_meta_reply
from channels.meta.settings import meta_settings
from gateway import keys
from gateway.models import Reply
from tests.channels.meta_support import (
    NUMBER_ID,
    PARENT_WA,
    PSID,
    fb_text,
    messenger,
    meta_config,
    meta_gateway,
    show,
    tickets,
    wa_text,
    whatsapp,
    work,
)
from tests.channels.twilio_support import PUBLIC, sms_gateway, text_in, twilio_settings
from tests.directory_fixtures import csv_settings
from tests.support.gateway import intake, settings_from
from tests.support.meta_api import MetaStandIn
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from tests.support.twilio_api import TwilioStandIn

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 300
PDF = b"%PDF-1.4\n" + b"0" * 200
TRAN_WA = "15553010001"  # the Tran household's home phone in tests/payloads/directory/families.csv


def wa_media(kind: str, media_id: str, mime: str, **extra: str) -> dict[str, object]:
    return {"from": PARENT_WA, "id": "wamid." + secrets.token_hex(8), "timestamp": str(int(time.time())),
            "type": kind, kind: {"id": media_id, "mime_type": mime, "sha256": "x", **extra}}  # fmt: skip


async def test_whatsapp_media_is_fetched_by_id_again_when_its_url_has_expired(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    meta_api.media["1480000000000001"] = (JPEG, "image/jpeg")
    meta_api.media["1480000000000003"] = (PDF, "application/pdf")
    meta_api.expire_next_urls = 1  # the first URL handed out is past its five minutes by the time it is fetched
    config = meta_config(tmp_path, redis_server, meta_api)
    photo = wa_media("image", "1480000000000001", "image/jpeg", caption="The broken window in room 12")
    lease = wa_media("document", "1480000000000003", "application/pdf", filename="lease.pdf")
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(photo, lease)))[0] == 200
    work(config)
    shown = show(config, 1)
    assert "The broken window in room 12" in shown
    assert "attachment: whatsapp-image-1.jpg (image/jpeg, 311 bytes)" in shown
    assert "attachment: lease.pdf (application/pdf, 209 bytes)" in shown
    asked = [p for m, p, ok in meta_api.requests if m == "GET" and p.endswith("/1480000000000001") and ok]
    assert len(asked) == 2  # asked once, and again after the expired URL
    downloads = [p for m, p, ok in meta_api.requests if p.startswith("/files/")]
    assert len(downloads) == 3 and all(ok for m, p, ok in meta_api.requests if p.startswith("/files/"))


async def test_a_messenger_photo_is_fetched_from_metas_cdn(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    url = meta_api.cdn_url("bus-stop.jpg", JPEG, "image/jpeg")
    config = meta_config(tmp_path, redis_server, meta_api)
    event = fb_text("")
    event["message"] = {"mid": "m_photo-1", "attachments": [{"type": "image", "payload": {"url": url}}]}
    evil = fb_text("")
    metadata = {"type": "image", "payload": {"url": "https://169.254.169.254/latest/meta-data"}}
    evil["message"] = {"mid": "m_photo-2", "attachments": [metadata]}
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(event, evil)))[0] == 200
    work(config)
    shown = show(config, 1)
    assert "attachment: messenger-image-1 (image/jpeg, 311 bytes)" in shown
    assert "NOT KEPT: not fetched: the host is not one of the provider's" in shown


async def test_a_whatsapp_number_is_the_same_household_as_its_texts_but_never_the_same_conversation(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, standin: TwilioStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, identity={"csv": csv_settings()},
                         channels={"twilio": twilio_settings(standin)}, server={"public_base_url": PUBLIC})  # fmt: skip
    async with sms_gateway(config) as sms:
        await text_in(sms, "The bus to Jefferson did not come", From=f"+{TRAN_WA}")
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("And the lunch card does not work", sender=TRAN_WA))))[0] == 200
    work(config)
    listed = sorted(tickets(config), key=lambda t: t["id"])
    assert [t["channel"] for t in listed] == ["sms", "whatsapp"]  # two requests: each answered where it was asked
    for t in listed:
        assert (t["requester_name"], t["requester_directory_id"]) == ("Tran household", "household:H100")
    assert [r.form["To"] for r in standin.created()] == [f"+{TRAN_WA}"]
    assert [s.body["to"] for s in meta_api.sends("whatsapp")] == [TRAN_WA]
    async with meta_gateway(config) as gw:  # STATUS on WhatsApp lists both, in the WhatsApp thread
        assert (await gw.post(whatsapp(wa_text("ESTADO", sender=TRAN_WA))))[0] == 200
    work(config)
    assert len(tickets(config)) == 2  # STATUS is no request
    report = meta_api.sends("whatsapp")[-1].body["text"]["body"]
    assert "#1" in report and "#2" in report


async def test_messages_from_one_sender_continue_their_open_request_and_new_starts_another(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(fb_text("The bus did not come"))))[0] == 200
        work(config)
        assert (await gw.post(messenger(fb_text("It came 40 minutes late"))))[0] == 200
        assert (await gw.post(messenger(fb_text("Another family's question", sender="7100000000000009"))))[0] == 200
        work(config)
        assert (await gw.post(messenger(fb_text("NEW my laptop screen is cracked"))))[0] == 200
    work(config)
    assert len(tickets(config)) == 3
    assert "It came 40 minutes late" in show(config, 1)
    assert "my laptop screen is cracked" in show(config, 3)


async def test_a_rule_on_the_channel_routes_whatsapp_requests(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: whatsapp-families\n    when:\n      channel: whatsapp\n"
                     "    then:\n      queue: family-liaison\n      tags: [whatsapp]\n")  # fmt: skip
    config = meta_config(tmp_path, redis_server, meta_api, routing={"rules_file": str(rules)})
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("Hello"))))[0] == 200
        assert (await gw.post(messenger(fb_text("Hello"))))[0] == 200
    work(config)
    queues = {t["channel"]: t["queue"] for t in tickets(config)}
    assert queues == {"whatsapp": "family-liaison", "messenger": "general"}


async def test_an_incident_update_reaches_a_whatsapp_family_on_whatsapp(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    opened = intake(config, "incident", "open", "--title", "Wi-Fi down at Lincoln", "--match", "wi-?fi")
    assert opened.returncode == 0, opened.stderr
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The wifi at Lincoln is down"))))[0] == 200
    work(config)
    update = ["incident", "update", "1", "--status", "resolved", "--message", "Fixed at 9:40."]
    assert intake(config, *update).returncode == 0
    work(config)
    bodies = [s.body["text"]["body"] for s in meta_api.sends("whatsapp")]
    assert len(bodies) == 2 and "Fixed at 9:40." in bodies[1]
    assert all(s.path == f"/v21.0/{NUMBER_ID}/messages" for s in meta_api.sends("whatsapp"))


async def test_the_acknowledgement_of_a_message_keeps_to_the_window_of_its_own_sender(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    # Two people on one page: one wrote now, one 30 hours ago. Only the first can be answered free-form.
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        old = fb_text("Old question", sender="7100000000000005", at=time.time() - 30 * 3600)
        assert (await gw.post(messenger(fb_text("New question"), old)))[0] == 200
    work(config)
    assert [s.body["recipient"]["id"] for s in meta_api.sends("messenger")] == [PSID]
    r = redis_server.client()
    ways = sorted(
        json.loads(e)["way"]
        for k in r.scan_iter("ig:conv:*:timeline")
        for e in r.lrange(k, 0, -1)
        if json.loads(e)["event"] == "reply_decision"
    )
    assert ways == ["free_form", "not_deliverable"]


def test_outside_the_window_an_email_the_conversation_has_is_the_other_way(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    # The conversation's own address comes first (the directory is asked only when it holds none).
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "security": "none", "timeout_s": 5}
    imap = {"host": "127.0.0.1", "port": 9, "security": "none", "user": "help", "password": "x"}  # never polled
    mailbox = {"address": "help@district.example.org", "imap": imap, "smtp": smtp}
    config = meta_config(tmp_path, redis_server, channels={"email": {"mailboxes": {"help": mailbox}}})
    settings = settings_from(config)
    r = redis_server.client()
    conv = {"channel": "whatsapp", "account": "main", "sender": f"+{PARENT_WA}", "email": "lan.tran@example.net",
            "ticket_ref": "7", "subject": "Lunch card", "last_activity": "2020-01-01T00:00:00+00:00"}  # fmt: skip
    r.hset(keys.conversation("C1"), mapping=conv)
    reply = Reply(conversation="C1", channel="whatsapp", recipient=f"+{PARENT_WA}", event="resolved",
                  text="Your request #7 is resolved. Card replaced.", by_person=True)  # fmt: skip
    outcome = send_meta_reply(r, settings, meta_settings(settings), reply, "reply-resolved-1-whatsapp")
    assert outcome == "sent by email"
    [job] = Queue("replies", connection=r, serializer=JSONSerializer).jobs[:1]
    assert job.args[0]["channel"] == "email" and job.args[0]["recipient"] == "lan.tran@example.net"
    assert job.args[0]["subject"] == "Lunch card [#7]"
    work(config)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("lan.tran@example.net",) and b"Card replaced." in mail.raw
