"""The worker's side of an inbound text: consent keywords (no ticket), STATUS, and what follows a ticket.

STOP/START change the consent ledger and send nothing (Twilio's own opt-out handling has already
answered). HELP answers with the configured help text, STATUS with the sender's open requests. Each
is still a committed, deduplicated message (idempotent on its MessageSid), never a ticket.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.twilio import is_consent_event
from gateway import keys
from gateway.ids import new_id
from gateway.intake.conversations import CLOSED_STATUSES
from gateway.models import Commitment, InboundMessage, Reply, Requester, Route
from gateway.outbox.consent import ConsentState, phone_digest, record_consent
from gateway.outbox.templating import render_reply
from gateway.store.redis_conn import text
from workers import context

log = logging.getLogger("intake.sms.in")

SMS_CHANNELS = ("sms", "voice")
MEDIA_FETCH_FUNC = "workers.sms_media.fetch_media"
MEDIA_QUEUE = "replies"  # fetching is outbound traffic to the provider, beside the replies


def handle_keyword(c: Commitment) -> dict[str, Any] | None:
    """The outcome for a consent or STATUS message, or None for a message that is a request."""
    m, f = c.message, c.message.flags
    if m.channel not in SMS_CHANNELS or not is_consent_event(f):
        return None
    r = context.connection()
    if f.opt_out or f.opt_in:
        state: ConsentState = "opted_out" if f.opt_out else "opted_in"
        how = f"keyword {m.text.strip().upper()[:20]}"
        applied = record_consent(r, m.sender, state, how, m.account, m.provider_id or m.id)
        log.info("consent recorded", extra={"state": state, "number": m.account, "applied": applied})
        return {"consent": state}
    conf = context.settings().channels.twilio
    if f.help:
        lang = m.language if m.language in conf.help_text else context.settings().default_language
        body = conf.help_text.get(lang) or next(iter(conf.help_text.values()), "")
        _queue(Reply(conversation=c.conversation, channel="sms", recipient=m.sender, event="help",
                     language=lang, text=body), f"help-{m.id}")  # fmt: skip
        return {"keyword": "help"}
    _queue(status_report(c), f"status-{m.id}")
    return {"keyword": "status"}


def status_report(c: Commitment) -> Reply:
    """The sender's open requests on every district number, newest first, in their language."""
    m = c.message
    r = context.connection()
    settings = context.settings()
    convs = [text(x) for x in r.zrevrange(keys.sms_sender_conversations(phone_digest(m.sender)), 0, 20)]
    open_requests = []
    for conv_id in convs:
        status, ticket = (text(v or "") for v in r.hmget(keys.conversation(conv_id), ["status", "ticket_ref"]))
        if ticket and status not in CLOSED_STATUSES:
            open_requests.append({"ticket": ticket, "status": status})
    rendered = render_reply(
        context.templates(), "status_report", "sms", m.language, settings.default_language,
        {"requests": open_requests},
    )  # fmt: skip
    return Reply(conversation=c.conversation, channel="sms", recipient=m.sender, event="status_report",
                 language=rendered.language, text=rendered.text)  # fmt: skip


def _queue(reply: Reply, key: str) -> None:
    from workers.jobs import REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once  # jobs imports this module

    enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), f"reply-{key}-sms", reply.event)


def after_commit(c: Commitment, ref: str) -> None:
    """After the ticket (or its comment) exists: remember the priority for quiet hours, fetch media in a job."""
    if c.message.channel not in SMS_CHANNELS:
        return
    r = context.connection()
    r.hset(keys.conversation(c.conversation), "priority", c.route.priority.value)
    pending = [a for a in c.message.attachments if a.source_url]
    if not pending:
        return
    from workers.jobs import enqueue_once

    payload = {"commitment": c.model_dump(mode="json"), "ticket": ref}
    enqueue_once(MEDIA_QUEUE, MEDIA_FETCH_FUNC, payload, f"media-{c.message.id}", "fetch media")


NOTE_UNDELIVERED_FUNC = "workers.sms_inbound.note_undelivered"


def note_undelivered(payload: dict[str, Any]) -> str:
    """Put on the ticket that the family did not get a text (a permanent failure), once per failed message."""
    conv_id, key = str(payload["conversation"]), str(payload["key"])
    r = context.connection()
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}
    ref, backend = conv.get("ticket_ref"), conv.get("backend") or context.settings().backends.default
    if not ref:
        return "no ticket"
    note = (
        f"The family did not receive the text ({payload.get('reply_event') or 'update'}): "
        f"error {payload.get('error_code') or 'unknown'}. Reach them another way."
    )
    message = InboundMessage(id=new_id(), channel="sms", account=conv.get("account", ""), sender="intake-gateway",
                             requester=Requester(display_name="Intake Gateway"), text=note)  # fmt: skip
    commitment = Commitment(message=message, fingerprint=key, conversation=conv_id, route=Route(backend=backend))
    context.backend(backend).add_comment(ref, commitment, idempotency_key=f"undelivered-{key}")
    return "noted"
