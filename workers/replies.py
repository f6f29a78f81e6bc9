"""Replies: which channels an event is told on (the channel decides), queued once each, sent by their channel.

`send_reply` is the only way a reply leaves: it looks the reply's channel up in the registry and
calls its `deliver`. A reply whose channel is not switched on in this worker waits on the channel's
outbound list until a worker that can send it puts it back on the queue (workers/parked.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from rq import get_current_job

from channels import reply_targets
from gateway import keys
from gateway.models import Reply, ReplyEvent
from gateway.outbox.parked import park
from gateway.outbox.plan import plan_replies
from gateway.store.queues import SEND_REPLY_FUNC
from gateway.store.redis_conn import text
from gateway.web.status_links import public_base, short_reference, status_url
from workers import context
from workers.queues import REPLIES_QUEUE, enqueue_once

log = logging.getLogger("intake.jobs")


def reply_context(conv_id: str, conv: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """The values every reply template gets, plus the event's own."""
    s = context.settings()
    request_id = extra.get("request_id") or conv.get("first_request", conv_id)
    return {
        "ticket": conv.get("ticket_ref", ""),
        "reference": short_reference(request_id),
        "status_url": status_url(public_base(s), s.signing_key(), request_id),
        "status": conv.get("status", ""),
        "comment": "",
        "category": conv.get("category", ""),
        **extra,
    }


def queue_replies(
    conv_id: str, event: ReplyEvent, event_key: str, extra: dict[str, Any], *, by_person: bool = False
) -> int:
    """Queue an event's reply on each of a conversation's channels; job ids derive from event_key, so once each.

    `by_person`: the reply carries words a person wrote (a staff comment), not only the gateway's."""
    r = context.connection()
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}
    replies = plan_replies(
        context.templates(),
        conv_id,
        conv,
        event,
        reply_context(conv_id, conv, extra),
        context.settings().default_language,
        reply_targets(conv),
        by_person=by_person,
    )
    queued = 0
    for reply in replies:
        job_id = f"reply-{event_key}-{reply.channel}"
        description = f"{event} reply ({reply.channel})"
        if enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), job_id, description):
            queued += 1
    return queued


def send_reply(payload: dict[str, Any]) -> str:
    """Deliver one reply on its channel. Recorded once per job id, so a retry never sends twice."""
    reply = Reply.model_validate(payload)
    r = context.connection()
    job = get_current_job()
    delivery_key = job.id if job else hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    if r.sismember(keys.deliveries(reply.conversation), delivery_key):
        return "already delivered"
    channel = context.channel(reply.channel)
    if channel is None:
        # No sender for this channel runs here: keep the reply on its outbound list, never drop it.
        with r.pipeline() as pipe:
            pipe.sadd(keys.deliveries(reply.conversation), delivery_key)
            park(pipe, reply, delivery_key)
            pipe.execute()
        outcome = "pending"
    else:
        outcome = channel.deliver(reply, delivery_key, context.services())
        r.sadd(keys.deliveries(reply.conversation), delivery_key)
    # The outcome's first word only: what follows may name a time or an error code, never a person.
    log.info("reply %s", outcome.split(":", 1)[0], extra={"channel": reply.channel, "event": reply.event,
                                                         "conversation": reply.conversation})  # fmt: skip
    return outcome
