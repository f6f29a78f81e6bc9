"""Sending a reply on Messenger, Instagram or WhatsApp from a worker, within Meta's 24-hour window.

channels.meta.window decides how (free-form, a WhatsApp template, Messenger's HUMAN_AGENT tag, or the
family's phone or email instead); this module carries it out and records it. A send Meta refuses for
the window is decided again without that way (a window closed mid-conversation falls back); 429 and
5xx raise, so rq retries with backoff and then dead-letters; a refusal Meta will repeat every time is
recorded and put on the ticket, never retried for ever. Each decision goes on the conversation's
timeline and, as one line per reply, an internal note on the ticket (a plain reply within the window too).

A reply goes out once: its outcome is recorded under its delivery key and checked first. Meta offers
no way to ask whether a send that timed out went through, so such a send is retried like an outage.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import redis

from channels.meta import graph
from channels.meta.graph import GraphError
from channels.meta.inbound import PRODUCT_NAMES, recipient_id
from channels.meta.settings import MetaEntry, MetaSettings, WhatsAppTemplate
from channels.meta.window import META_WAYS, WINDOW, Decision, Way, decide
from channels.social.sending import conversation, flag, note_for_staff, outcome_of, record, set_flag
from gateway import keys
from gateway.directory.own_email import directory_email
from gateway.errors import DeliveryFailed
from gateway.models import Reply, utcnow
from gateway.outbox.consent import is_suppressed, phone_digest
from gateway.settings import Settings
from gateway.store.queues import REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once
from gateway.store.redis_conn import text
from gateway.web.status_links import short_reference
from normalizers.twilio_sms import is_phone

log = logging.getLogger("intake.meta.out")

MAX_TEXT = {"messenger": 2000, "instagram": 1000, "whatsapp": 4096}
TEMPLATE_PARAMETER_CHARS = 1024
SENT_RECORD_TTL_S = 2 * 86400  # WhatsApp's receipts come within minutes; a failure after that changes nothing


def refused_ways(r: redis.Redis, delivery_key: str) -> frozenset[Way]:
    return frozenset(w for w in META_WAYS if flag(r, delivery_key, f"refused:{w}"))


def _epoch(value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp() if "T" in value else float(value)
    except ValueError:
        return 0.0


def last_message_at(r: redis.Redis, conv: dict[str, str]) -> datetime | None:
    """When the family last wrote on this page or number: this conversation, or a newer one of theirs there."""
    stamps = [_epoch(conv.get("last_inbound_at", "")), _epoch(conv.get("last_activity", ""))]
    scope, sender = conv.get("continuity_scope", ""), conv.get("sender", "")
    if scope and sender:
        latest = r.get(keys.sms_latest(scope, phone_digest(sender)))
        if latest is not None:
            newer = r.hmget(keys.conversation(text(latest)), ["last_inbound_at", "last_activity"])
            stamps += [_epoch(text(v or "")) for v in newer]
    best = max(stamps)
    return datetime.fromtimestamp(best, UTC) if best > 0 else None


def survey_window_closed(r: redis.Redis, conv: dict[str, str]) -> str:
    """Why a survey may not go on Meta now ("" within the 24-hour window). It takes no other way."""
    last = last_message_at(r, conv)
    if last is None or utcnow() - last >= WINDOW:
        return "outside Meta's 24-hour messaging window"
    return ""


def family_phone(conv: dict[str, str]) -> str:
    """A WhatsApp sender is a phone number; a Messenger or Instagram sender has none we know."""
    return conv.get("sender", "") if conv.get("channel") == "whatsapp" else ""


def family_email(settings: Settings, conv: dict[str, str]) -> str:
    """The family's own email address: the conversation's, else the directory's for the WhatsApp number (the same
    person or household only, never a staff address: gateway.directory.own_email). Blank when there is none."""
    return conv.get("email") or directory_email(settings.identity, family_phone(conv)) or ""


def other_channels(
    r: redis.Redis, settings: Settings, conf: MetaSettings, conv: dict[str, str], email: str
) -> list[Way]:
    """The family's other channels we can use now, in the configured order."""
    out: list[Way] = []
    phone = family_phone(conv)
    for way in conf.fallback:
        if way == "sms" and settings.channels.twilio.enabled and is_phone(phone):
            if not is_suppressed(r, phone) and not r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(phone)):
                out.append("sms")
        elif way == "email" and email:
            box = settings.channels.email.mailboxes.get(settings.channels.email.sender_mailbox() or "")
            if box is not None and box.smtp is not None:
                out.append("email")
    return out


def _single_line(value: str) -> str:
    # Template parameters may not hold new lines, tabs or more than four spaces in a row.
    return re.sub(r"\s+", " ", value).strip()[:TEMPLATE_PARAMETER_CHARS]


def template_values(tpl: WhatsAppTemplate, conv: dict[str, str], reply: Reply) -> list[str]:
    values = {
        "ticket": conv.get("ticket_ref", ""),
        "reference": short_reference(conv.get("first_request", reply.conversation)),
        "status": conv.get("status", ""),
        "text": reply.text,
    }
    return [_single_line(values[name]) or "-" for name in tpl.parameters]


def _fit(body: str, limit: int) -> str:
    return body if len(body) <= limit else body[: limit - 1] + "…"


def send_on_meta(
    conf: MetaSettings, product: str, entry: MetaEntry, way: Way, reply: Reply, conv: dict[str, str]
) -> str:
    """One send through the Graph API; the message id Meta gave it. Raises GraphError."""
    token = entry.token.get_secret_value()
    to = recipient_id(reply.recipient)
    body = _fit(reply.text, MAX_TEXT.get(product, 2000))
    if product != "whatsapp":
        payload: dict[str, Any] = {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": body}}
        if way == "human_agent":
            payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        return str(graph.post(conf, "me/messages", token, payload).get("message_id", ""))
    number_id = getattr(entry, "phone_number_id", "")
    message: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    tpl = conf.template(reply.event, reply.language)
    if way == "template" and tpl is not None:
        template: dict[str, Any] = {"name": tpl.name, "language": {"code": tpl.language}}
        values = template_values(tpl, conv, reply)
        if values:
            template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]
        message.update(type="template", template=template)
    else:
        message.update(type="text", text={"preview_url": False, "body": body})
    answer = graph.post(conf, f"{number_id}/messages", token, message)
    sent = answer.get("messages") if isinstance(answer.get("messages"), list) else []
    return str(sent[0].get("id", "")) if sent and isinstance(sent[0], dict) else ""


def send_meta_reply(r: redis.Redis, settings: Settings, conf: MetaSettings, reply: Reply, key: str) -> str:
    """Send, or say why not. Raises DeliveryFailed on a retryable failure so rq retries, then dead-letters."""
    done = outcome_of(r, key)
    if done is not None:
        return f"already done: {done}"
    product, conv = reply.channel, conversation(r, reply.conversation)
    entry = (
        conf.number_named(conv.get("account", ""))
        if product == "whatsapp"
        else conf.page_named(conv.get("account", ""))
    )
    if entry is None:
        r.rpush(keys.pending_outbound(product), reply.model_dump_json())
        return "pending: no page or number configured for this account"
    refused = refused_ways(r, key)
    email: str | None = None  # asked of the directory only for a reply Meta cannot carry
    while True:
        deciding = partial(decide, product, last_message_at=last_message_at(r, conv), now=utcnow(),
                           by_person=reply.by_person, refused_here=refused,
                           has_template=conf.template(reply.event, reply.language) is not None)  # fmt: skip
        decision = deciding(other_channels=[])
        if decision.way not in META_WAYS:  # only now do the family's other channels matter (and the directory)
            if email is None:
                email = family_email(settings, conv) if "email" in conf.fallback else ""
            decision = deciding(other_channels=other_channels(r, settings, conf, conv, email))
            return another_way(r, settings, reply, key, conv, decision, email)
        try:
            message_id = send_on_meta(conf, product, entry, decision.way, reply, conv)
        except GraphError as exc:
            log.warning("meta send refused", extra={"channel": product, "kind": exc.kind, "status": exc.status,
                                                    "error_code": exc.code, "subcode": exc.subcode})  # fmt: skip
            if exc.kind == "retry":
                raise DeliveryFailed(str(exc), status=exc.status, code=exc.code) from None
            if exc.kind == "refused":
                return refused_for_good(r, settings, reply, key, decision, exc)
            ruled_out = META_WAYS if exc.kind == "unreachable" else frozenset({decision.way})
            for way in ruled_out:
                set_flag(r, key, f"refused:{way}")
            refused = refused | ruled_out
            continue
        return sent(r, settings, reply, key, decision, message_id, number=conv.get("account", ""))


def _entry(reply: Reply, decision: Decision, **extra: Any) -> dict[str, Any]:
    return {"event": "reply_decision", "channel": reply.channel, "reply_event": reply.event, "way": decision.way,
            "why": decision.why, **extra}  # fmt: skip


def sent(
    r: redis.Redis, settings: Settings, reply: Reply, key: str, decision: Decision, message_id: str, number: str
) -> str:
    extra: dict[str, Any] = {}
    if reply.channel == "whatsapp" and message_id:
        # Kept for its receipts: a failure reported later (the window closed at Meta) still finds another way.
        owned = keys.meta_message(message_id)
        with r.pipeline() as pipe:
            pipe.hset(owned, mapping={"conversation": reply.conversation, "key": key, "number": number,
                                      "reply": reply.model_dump_json(), "way": decision.way})  # fmt: skip
            pipe.hsetnx(owned, "status", "accepted")
            pipe.hsetnx(owned, "rank", 0)
            pipe.expire(owned, SENT_RECORD_TTL_S)
            pipe.execute()
        extra["owned_key"] = owned
    record(r, reply.conversation, key, decision.way, _entry(reply, decision, **extra))
    # Every decision is on the ticket, a plain reply within the window too: one line per reply, naming no person.
    how = {"free_form": ", free-form", "template": "", "human_agent": " (human_agent)"}[decision.way]
    note = f"The {reply.event} reply went out on {PRODUCT_NAMES[reply.channel]}{how}: {decision.why}."
    note_for_staff(r, settings, reply.conversation, key, note)
    log.info("meta reply sent", extra={"channel": reply.channel, "event": reply.event, "way": decision.way,
                                       "conversation": reply.conversation})  # fmt: skip
    return "sent" if decision.way == "free_form" else f"sent: {decision.way}"


def another_way(
    r: redis.Redis, settings: Settings, reply: Reply, key: str, conv: dict[str, str], d: Decision, email: str
) -> str:
    """The reply by text or email instead (its own job, with that channel's rules), or recorded as not deliverable."""
    product = PRODUCT_NAMES[reply.channel]
    if d.way in ("sms", "email"):
        to = family_phone(conv) if d.way == "sms" else email
        tag = f" [#{conv['ticket_ref']}]" if conv.get("ticket_ref") else ""
        subject = reply.subject or (conv.get("subject", "")[:60] + tag).strip()
        other = reply.model_copy(update={"channel": d.way, "recipient": to, "subject": subject})
        enqueue_once(r, settings, REPLIES_QUEUE, SEND_REPLY_FUNC, other.model_dump(mode="json"), f"{key}-via-{d.way}",
                     f"{reply.event} reply ({d.way}, instead of {reply.channel})")  # fmt: skip
        record(r, reply.conversation, key, d.way, _entry(reply, d))
        note = f"The family could not be reached on {product} for the {reply.event} reply: {d.why}."
        note_for_staff(r, settings, reply.conversation, key, note)
        log.info("meta reply sent another way", extra={"channel": reply.channel, "event": reply.event, "way": d.way})
        return f"sent by {d.way}"
    record(r, reply.conversation, key, "not_deliverable", _entry(reply, d))
    note = f"The {reply.event} reply was not delivered on {product}: {d.why}. Reach the family another way."
    note_for_staff(r, settings, reply.conversation, key, note)
    log.info("meta reply not deliverable", extra={"channel": reply.channel, "event": reply.event})
    return "not deliverable"


def refused_for_good(
    r: redis.Redis, settings: Settings, reply: Reply, key: str, decision: Decision, exc: GraphError
) -> str:
    why = f"Meta refused it (error {exc.code}{'/' + str(exc.subcode) if exc.subcode else ''})"
    d = Decision("not_deliverable", why)
    record(r, reply.conversation, key, "failed", _entry(reply, d, error_code=exc.code, tried=decision.way))
    note_for_staff(r, settings, reply.conversation, key,
                   f"The {reply.event} reply was not delivered on {PRODUCT_NAMES[reply.channel]}: {why}. "
                   "Reach the family another way.")  # fmt: skip
    return f"failed: error {exc.code}"


def record_inbound(r: redis.Redis, conv_id: str, at: datetime) -> None:
    """When the family last wrote on this conversation (only ever later: Meta may deliver an old message last)."""
    r.eval(_LATER, 1, keys.conversation(conv_id), f"{at.timestamp():.3f}")


_LATER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[1], 'last_inbound_at') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'last_inbound_at', ARGV[1]) end
return 1
"""
