"""Messenger and WhatsApp end to end: the web app, real rq workers, the built-in tickets, and replies through the
Graph API to the local stand-in, within Meta's 24-hour window (templates, HUMAN_AGENT, another channel, or
recorded as not deliverable), with retries for 429 and 5xx and no retry for a refusal Meta will repeat."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gateway import keys
from tests.channels.meta_support import (
    INSTAGRAM_ID,
    NUMBER_ID,
    PAGE_TOKEN,
    PARENT_WA,
    PSID,
    WA_TOKEN,
    commitments,
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
from tests.channels.twilio_support import twilio_settings
from tests.support.gateway import intake
from tests.support.meta_api import Failure, MetaStandIn
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

HOURS = 3600
TEMPLATES = {
    "status_changed": {"en": {"name": "request_update", "language": "en_US", "parameters": ["ticket", "text"]}}
}


def decisions(redis_server: RedisServer) -> list[dict[str, Any]]:
    r = redis_server.client()
    out = []
    for key in r.scan_iter("ig:conv:*:timeline"):
        out += [e for e in map(json.loads, r.lrange(key, 0, -1)) if e.get("event") == "reply_decision"]
    return sorted(out, key=lambda e: e["at"])


def update(
    config: Path, ticket: str = "1", comment: str | None = "The driver has been told.", status: str = "in_progress"
) -> None:
    args = ["tickets", "update", ticket, "--status", status]
    assert intake(config, *args, *(["--comment", comment] if comment else [])).returncode == 0
    work(config)


async def test_a_whatsapp_message_becomes_a_ticket_and_is_answered_on_whatsapp_in_the_familys_language(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("Hola, el autobús número 12 no pasó esta mañana por la parada."))))[
            0
        ] == 200
    work(config)
    [ticket] = tickets(config)
    assert (ticket["channel"], ticket["requester_phone"], ticket["language"]) == ("whatsapp", f"+{PARENT_WA}", "es")
    [ack] = meta_api.sends("whatsapp")
    assert ack.path == f"/v21.0/{NUMBER_ID}/messages" and ack.token == WA_TOKEN
    assert (ack.body["to"], ack.body["type"]) == (PARENT_WA, "text")
    assert ack.body["text"]["body"].startswith("Recibimos su solicitud (caso #1).")  # templates/received/plain.es.j2
    assert [d["way"] for d in decisions(redis_server)] == ["free_form"]


async def test_a_messenger_message_is_answered_on_messenger_with_the_senders_profile_name_on_the_ticket(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    meta_api.profiles[PSID] = {"first_name": "Rosa", "last_name": "Alvarez"}
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(fb_text("The projector in room 4 is broken"))))[0] == 200
    work(config)
    [ticket] = tickets(config)
    assert (ticket["channel"], ticket["requester_name"]) == ("messenger", "Rosa Alvarez")
    [ack] = meta_api.sends("messenger")
    assert ack.token == PAGE_TOKEN
    assert ack.body["recipient"] == {"id": PSID} and ack.body["messaging_type"] == "RESPONSE"
    assert ack.body["message"]["text"].startswith("We received your request (ticket #1).")


async def test_every_reply_within_the_window_is_one_note_on_the_ticket_naming_no_one(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The bus did not come to the stop on Elm Street"))))[0] == 200
        work(config)
        update(config, comment="The driver has been told.")
    assert len(meta_api.sends("whatsapp")) == 2  # the acknowledgement and the staff member's answer, both free-form
    assert [d["way"] for d in decisions(redis_server)] == ["free_form", "free_form"]
    shown = show(config, 1)
    within = "reply went out on WhatsApp, free-form: within 24 hours of the family's last message."
    assert [line.strip() for line in shown.splitlines() if within in line] == [
        f"The received {within}",
        f"The status_changed {within}",
    ]  # one line per reply, never more
    notes = [line for line in shown.splitlines() if "reply went out on" in line]
    for line in notes:  # the family's number, their words and Meta's message ids stay off the note
        assert PARENT_WA not in line and "Elm Street" not in line and "wamid" not in line
        assert "driver" not in line


async def test_outside_the_window_whatsapp_sends_the_approved_template_and_the_ticket_says_so(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, meta={"templates": TEMPLATES})
    async with meta_gateway(config) as gw:
        # Meta retried the webhook for a day: the family wrote 30 hours ago, so no free-form reply is allowed.
        assert (await gw.post(whatsapp(wa_text("My laptop does not charge", at=time.time() - 30 * HOURS))))[0] == 200
    work(config)
    update(config)
    # The acknowledgement has no template and the family no other channel: recorded as not deliverable.
    [sent] = meta_api.sends("whatsapp")
    template = sent.body["template"]
    assert (template["name"], template["language"]) == ("request_update", {"code": "en_US"})
    [params] = [c["parameters"] for c in template["components"]]
    assert params[0] == {"type": "text", "text": "1"} and "The driver has been told." in params[1]["text"]
    assert [d["way"] for d in decisions(redis_server)] == ["not_deliverable", "template"]
    assert "went out on WhatsApp: the 24-hour window had closed: sent as an approved template" in show(config, 1)


async def test_outside_the_window_with_no_template_the_update_goes_by_text_to_the_same_phone(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, standin: TwilioStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, channels={"twilio": twilio_settings(standin)})
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("My laptop does not charge", at=time.time() - 30 * HOURS))))[0] == 200
    work(config)
    update(config)
    assert meta_api.sends("whatsapp") == []  # neither the acknowledgement nor the update could go free-form
    texts = [r.form for r in standin.created()]
    assert [t["To"] for t in texts] == [f"+{PARENT_WA}", f"+{PARENT_WA}"]
    assert "The driver has been told." in texts[1]["Body"]
    assert [d["way"] for d in decisions(redis_server)] == ["sms", "sms"]
    assert "could not be reached on WhatsApp" in show(config, 1)
    assert tickets(config)[0]["channel"] == "whatsapp"  # the conversation stays a WhatsApp one


async def test_a_window_closed_mid_conversation_falls_back_to_sms(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, standin: TwilioStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, channels={"twilio": twilio_settings(standin)})
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The bus did not come"))))[0] == 200
        work(config)
        assert len(meta_api.sends("whatsapp")) == 1  # acknowledged on WhatsApp, within the window
        meta_api.closed_24h.add(PARENT_WA)  # Meta's clock says the window has closed since
        update(config)
    assert len(meta_api.sends("whatsapp")) == 1  # Meta refused the free-form update (131047)...
    [text] = [r.form for r in standin.created()]
    assert text["To"] == f"+{PARENT_WA}" and "The driver has been told." in text["Body"]  # ...so it went by text
    assert [d["way"] for d in decisions(redis_server)] == ["free_form", "sms"]


async def test_a_window_refusal_meta_reports_later_sends_the_reply_by_text(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, standin: TwilioStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, channels={"twilio": twilio_settings(standin)})
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The bus did not come"))))[0] == 200
        work(config)
        meta_api.closed_24h.add(PARENT_WA)
        meta_api.window_refused_later = True  # Meta takes the message, then reports it failed
        update(config)
        wamid = meta_api.sends("whatsapp")[-1].message_id
        failed = {"id": wamid, "status": "failed", "timestamp": str(int(time.time())), "recipient_id": PARENT_WA,
                  "errors": [{"code": 131047, "title": "Re-engagement message"}]}  # fmt: skip
        assert (await gw.post(whatsapp(statuses=[failed])))[0] == 200
        assert (await gw.post(whatsapp(statuses=[failed])))[0] == 200  # Meta delivers receipts at least once too
    work(config)
    [text] = [r.form for r in standin.created()]
    assert text["To"] == f"+{PARENT_WA}" and "The driver has been told." in text["Body"]
    r = redis_server.client()
    assert r.hget(keys.meta_message(wamid), "status") == b"failed"


async def test_messenger_uses_the_human_agent_tag_for_a_staff_reply_within_seven_days_only(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(fb_text("Enrollment question", at=time.time() - 3 * 24 * HOURS))))[0] == 200
    work(config)
    update(config, comment="Please bring proof of address on Monday.")  # a person wrote it: HUMAN_AGENT
    update(config, comment=None, status="waiting")  # a bare status change is the gateway's own words: never tagged
    [tagged] = meta_api.sends("messenger")
    assert (tagged.body["messaging_type"], tagged.body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert "proof of address" in tagged.body["message"]["text"]
    assert [d["way"] for d in decisions(redis_server)] == ["not_deliverable", "human_agent", "not_deliverable"]
    shown = show(config, 1)
    assert "HUMAN_AGENT tag" in shown
    assert "was not delivered on Messenger: the 24-hour window had closed, and the family has no other channel" in shown


async def test_after_seven_days_even_a_staff_reply_is_recorded_as_not_deliverable(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(fb_text("Bus pass question"))))[0] == 200
        work(config)
        meta_api.closed_7d.add(PSID)  # Meta refuses both the free-form reply and the tag
        update(config)
    assert len(meta_api.sends("messenger")) == 1  # only the acknowledgement
    assert [d["way"] for d in decisions(redis_server)] == ["free_form", "not_deliverable"]
    assert "Reach the family another way." in show(config, 1)


async def test_429_and_5xx_are_retried_and_the_reply_goes_out_once(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    meta_api.failures = [Failure(429, 4), Failure(503, 2)]
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The Wi-Fi at Lincoln is down"))))[0] == 200
    work(config)
    assert len(meta_api.sends("whatsapp")) == 1
    assert meta_api.failures == []
    work(config)  # nothing left to do: never a second send
    assert len(meta_api.sends("whatsapp")) == 1


async def test_a_refusal_meta_will_repeat_is_recorded_not_retried(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    meta_api.failures = [Failure(400, 100), Failure(400, 100), Failure(400, 100)]
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The Wi-Fi at Lincoln is down"))))[0] == 200
    work(config)
    assert len(meta_api.failures) == 2  # one try, no retries
    [decision] = decisions(redis_server)
    assert (decision["way"], decision["error_code"]) == ("not_deliverable", 100)
    assert "Meta refused it (error 100)" in show(config, 1)
    assert redis_server.client().zcard("rq:failed:replies") == 0  # recorded, not dead-lettered


async def test_whatsapp_receipts_move_our_message_forward_only(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api)
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The bus did not come"))))[0] == 200
        work(config)
        [ack] = meta_api.sends("whatsapp")
        owned = keys.meta_message(ack.message_id)
        assert redis_server.client().hget(owned, "status") == b"accepted"

        def receipt(state: str) -> dict[str, Any]:
            return {"id": ack.message_id, "status": state, "timestamp": str(int(time.time())),
                    "recipient_id": PARENT_WA}  # fmt: skip

        # Meta's receipts come in any order and more than once: "read" is never undone by a late "delivered".
        assert (await gw.post(whatsapp(statuses=[receipt("read"), receipt("delivered")])))[0] == 200
        assert redis_server.client().hget(owned, "status") == b"read"
        assert (await gw.post(whatsapp(statuses=[receipt("sent")])))[0] == 200
        assert redis_server.client().hget(owned, "status") == b"read"


async def test_each_whatsapp_number_keeps_its_own_conversations_school_and_sender(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    lincoln_id, lincoln_token = "106540000000002", "EAAG-lincoln-number-token-for-tests-77e1"
    meta_api.tokens.add(lincoln_token)
    numbers = {
        "main": {"phone_number_id": NUMBER_ID, "token": WA_TOKEN, "school": "lhs", "department": "attendance"},
        "lincoln": {"phone_number_id": lincoln_id, "token": lincoln_token, "school": "lincoln",
                    "department": "transport", "language": "es"},
    }  # fmt: skip
    config = meta_config(tmp_path, redis_server, meta_api, meta={"numbers": numbers})

    def to_lincoln(body: str) -> dict[str, Any]:
        payload = whatsapp(wa_text(body))
        payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = lincoln_id
        return payload

    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("The lunch card does not work"))))[0] == 200
        assert (await gw.post(to_lincoln("The bus did not come this morning")))[0] == 200
        filed = [(c.message.account, c.message.campus, c.message.category) for c in commitments(redis_server)]
        assert filed == [("main", "lhs", "attendance"), ("lincoln", "lincoln", "transport")]
        work(config)
        # The same person on each number again: each message continues that number's request, never the other's.
        assert (await gw.post(to_lincoln("It came 40 minutes late")))[0] == 200
        assert (await gw.post(whatsapp(wa_text("The card was replaced, thanks"))))[0] == 200
    work(config)
    listed = sorted(tickets(config), key=lambda t: t["id"])
    assert [(t["channel"], t["school"]) for t in listed] == [("whatsapp", "lhs"), ("whatsapp", "lincoln")]
    assert "The card was replaced" in show(config, 1) and "40 minutes late" not in show(config, 1)
    assert "40 minutes late" in show(config, 2) and "card was replaced" not in show(config, 2)
    acks = {(s.path, s.token) for s in meta_api.sends("whatsapp")}
    assert acks == {(f"/v21.0/{NUMBER_ID}/messages", WA_TOKEN), (f"/v21.0/{lincoln_id}/messages", lincoln_token)}


async def test_an_instagram_message_is_answered_on_instagram_with_the_senders_name_on_the_ticket(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    igsid = "1780000000000000007"
    meta_api.profiles[igsid] = {"name": "Rosa Alvarez", "username": "rosa.alvarez"}
    config = meta_config(tmp_path, redis_server, meta_api)
    event = fb_text("Is school open on Monday?", sender=igsid, page=INSTAGRAM_ID)
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(event, page=INSTAGRAM_ID, product="instagram")))[0] == 200
    work(config)
    [ticket] = tickets(config)
    assert (ticket["channel"], ticket["requester_name"]) == ("instagram", "Rosa Alvarez")
    [ack] = meta_api.sends("messenger")  # Instagram's messages go through the page's /me/messages
    assert (ack.path, ack.token) == ("/v21.0/me/messages", PAGE_TOKEN)
    assert ack.body["recipient"] == {"id": igsid} and ack.body["messaging_type"] == "RESPONSE"
    assert ack.body["message"]["text"].startswith("We received your request (ticket #1).")
