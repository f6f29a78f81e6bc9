"""The worker's side of an inbound text: consent keywords (no ticket), STATUS, and what follows a ticket.

STOP/START change the consent ledger and send nothing (Twilio's own opt-out handling has already
answered). HELP answers with the configured help text, STATUS with the sender's open requests. Each
is still a committed, deduplicated message (idempotent on its MessageSid), never a ticket.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.base import WorkerServices
from channels.social.keywords import queue_status_answer
from gateway.models import Commitment, Flags, Reply
from gateway.outbox.consent import ConsentState, record_consent
from gateway.store.queues import FETCH_MEDIA_FUNC, REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once

log = logging.getLogger("intake.sms.in")

MEDIA_QUEUE = REPLIES_QUEUE  # fetching is outbound traffic to the provider, beside the replies


def is_consent_event(flags: Flags) -> bool:
    """STOP/START/HELP/STATUS are answered by the gateway itself: no ticket (DESIGN.md 3.3)."""
    return flags.opt_out or flags.opt_in or flags.help or flags.status_request


def handle_keyword(c: Commitment, svc: WorkerServices) -> dict[str, Any] | None:
    """The outcome for a consent or STATUS message, or None for a message that is a request."""
    m, f = c.message, c.message.flags
    if not is_consent_event(f):
        return None
    if f.opt_out or f.opt_in:
        state: ConsentState = "opted_out" if f.opt_out else "opted_in"
        how = f"keyword {m.text.strip().upper()[:20]}"
        applied = record_consent(svc.redis, m.sender, state, how, m.account, m.provider_id or m.id)
        log.info("consent recorded", extra={"state": state, "number": m.account, "applied": applied})
        return {"consent": state}
    conf = svc.settings.channels.twilio
    if f.help:
        lang = m.language if m.language in conf.help_text else svc.settings.default_language
        body = conf.help_text.get(lang) or next(iter(conf.help_text.values()), "")
        _queue(svc, Reply(conversation=c.conversation, channel="sms", recipient=m.sender, event="help",
                          language=lang, text=body), f"help-{m.id}")  # fmt: skip
        return {"keyword": "help"}
    queue_status_answer(c, svc)  # the ticket systems are asked for the status now, in its own job
    return {"keyword": "status"}


def _queue(svc: WorkerServices, reply: Reply, key: str) -> None:
    enqueue_once(svc.redis, svc.settings, REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"),
                 f"reply-{key}-sms", reply.event)  # fmt: skip


def after_ticket(c: Commitment, ref: str, svc: WorkerServices) -> None:
    """After the ticket (or its comment) exists: fetch media in a job. (Quiet hours read the conversation's priority,
    which the ticket's record sets; the SLA clocks are named by it, so a follow-up does not change it.)"""
    if not any(a.source_url for a in c.message.attachments):
        return
    payload = {"commitment": c.model_dump(mode="json"), "ticket": ref}
    enqueue_once(svc.redis, svc.settings, MEDIA_QUEUE, FETCH_MEDIA_FUNC, payload, f"media-{c.message.id}",
                 "fetch media")  # fmt: skip
