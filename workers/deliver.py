"""Delivering a committed request: the ticket (or a comment on the conversation's ticket), then its acknowledgement.

The channel takes its turn twice: `prepare` before the ticket (a profile lookup, or an answer with
no ticket at all, such as a consent keyword), and `after_ticket` once the ticket exists (fetching
media). Every write is idempotent, so a retried job never doubles a ticket, a comment or a reply.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import redis

from channels.base import Handled
from gateway import keys
from gateway.intake.languages import detect_in_worker
from gateway.models import Commitment, ReplyEvent, TicketStatus, utcnow
from gateway.store.redis_conn import text
from workers import context
from workers.incident_link import acknowledgement
from workers.replies import queue_replies
from workers.routing_stage import plan_ticket, remember_routed, reply_context, start_clocks

log = logging.getLogger("intake.jobs")

CONVERSATION_LOCK_S = 60


def _timeline(pipe: redis.client.Pipeline, conv_id: str, entry: dict[str, Any]) -> None:
    pipe.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the ticket (or add a comment to the conversation's ticket), then queue the acknowledgement."""
    c = Commitment.model_validate(payload)
    r = context.connection()
    c = _with_detected_language(r, c)
    channel = context.channel(c.message.channel)
    if channel is not None:
        prepared = channel.prepare(c, context.services())
        if isinstance(prepared, Handled):
            return prepared.outcome
        c = prepared
    rules = context.rules().current()
    if c.route.drop:
        return _drop(r, c)
    backend = context.backend(c.route.backend)
    conv_key = keys.conversation(c.conversation)
    with r.lock(f"{keys.PREFIX}:lock:conv:{c.conversation}", timeout=CONVERSATION_LOCK_S, blocking_timeout=30):
        existing = r.hget(conv_key, "ticket_ref")
        if existing is not None:
            ref = text(existing)
            backend.add_comment(ref, c, idempotency_key=c.message.id)
            with r.pipeline() as pipe:
                _timeline(pipe, c.conversation, {"event": "comment_added", "request_id": c.message.id})
                pipe.hset(keys.request(c.message.id), "ticket_ref", ref)
                pipe.execute()
            log.info("comment added", extra={"request_id": c.message.id, "backend": backend.name, "ticket": ref})
            if channel is not None:
                channel.after_ticket(c, ref, context.services())
            return {"ticket": ref, "created": False}
        routed = c
        c = plan_ticket(r, c, rules)
        ref = backend.create_ticket(c, idempotency_key=c.message.id)
        with r.pipeline() as pipe:
            pipe.hset(conv_key, mapping={"ticket_ref": ref, "backend": backend.name, "status": TicketStatus.NEW.value})
            pipe.set(keys.ticket(backend.name, ref), c.conversation)
            pipe.hset(keys.request(c.message.id), "ticket_ref", ref)
            _timeline(pipe, c.conversation, {"event": "ticket_created", "ticket": ref, "rules": list(c.route.rule_ids)})
            start_clocks(pipe, c)
            pipe.execute()
    remember_routed(r, routed, context.settings().routing.replay_keep)
    log.info("ticket created", extra={"request_id": c.message.id, "backend": backend.name, "ticket": ref})
    if channel is not None:
        channel.after_ticket(c, ref, context.services())
    ack = acknowledgement(c, ref)  # a request that belongs to an open incident is linked and told its status
    flags = c.message.flags
    if flags.auto_reply or flags.unverified_sender or flags.bounce:
        # Never answer a machine (RFC 3834), nor a sender whose domain failed DMARC: the reply would go to a victim.
        with r.pipeline() as pipe:
            _timeline(pipe, c.conversation, {"event": "ack_suppressed", "request_id": c.message.id})
            pipe.execute()
        return {"ticket": ref, "created": True}
    if ack.event == "incident_update":
        queue_replies(c.conversation, ack.event, ack.key, {**ack.context, "evidence": c.evidence})
    else:
        event = cast(ReplyEvent, c.route.auto_reply_template)
        extra = {"request_id": c.message.id, "evidence": c.evidence, **reply_context(c, rules, utcnow(), r)}
        queue_replies(c.conversation, event, ack.key, extra)
    return {"ticket": ref, "created": True}


def _with_detected_language(r: redis.Redis, c: Commitment) -> Commitment:
    """The text's language, when intake left it to us: before the ticket, so staff and replies see it."""
    m = c.message
    detected = detect_in_worker(m)
    if detected is m:
        return c
    if detected.requester.locale != m.requester.locale:
        conv_key = keys.conversation(c.conversation)
        if c.conversation == m.id or text(r.hget(conv_key, "sender") or "") == m.sender:
            # The requester's own words decide the reply language (the commit wrote the channel's).
            r.hset(conv_key, "language", detected.requester.locale)
    return c.model_copy(update={"message": detected})


def _drop(r: redis.Redis, c: Commitment) -> dict[str, Any]:
    """Spam by the operators' rules: no ticket, no reply; the timeline says which rule dropped it."""
    with r.pipeline() as pipe:
        _timeline(
            pipe, c.conversation, {"event": "dropped", "request_id": c.message.id, "rules": list(c.route.rule_ids)}
        )
        pipe.execute()
    remember_routed(r, c, context.settings().routing.replay_keep)
    log.info("request dropped by the rules", extra={"request_id": c.message.id, "rules": list(c.route.rule_ids)})
    return {"ticket": None, "created": False, "dropped": True}
