"""rq job functions. Each takes JSON-native arguments and builds its clients from workers.context.

Every job is safe to run twice: ticket writes carry idempotency keys, replies are recorded once per
job id, and follow-up jobs have deterministic ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, cast

import redis
from rq import Queue, get_current_job
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.intake.languages import detect_in_worker
from gateway.models import Commitment, Reply, ReplyEvent, StatusEvent, TicketStatus, utcnow
from gateway.outbox.plan import plan_replies
from gateway.store.commit import job_retry
from gateway.store.redis_conn import text
from gateway.web.status_links import public_base, short_reference, status_url
from workers import context, sms_inbound
from workers.email_replies import send_email_reply
from workers.incident_link import acknowledgement
from workers.routing_stage import plan_ticket, remember_routed, reply_context, start_clocks, stop_clocks
from workers.slack_identity import with_slack_identity
from workers.slack_replies import send_slack_reply
from workers.sms_replies import send_sms_reply

log = logging.getLogger("intake.jobs")

REPLIES_QUEUE = "replies"
EVENTS_QUEUE = "events"
SEND_REPLY_FUNC = "workers.jobs.send_reply"
STATUS_EVENT_FUNC = "workers.jobs.handle_status_event"
CONVERSATION_LOCK_S = 60


def enqueue_once(queue: str, func: str, payload: dict[str, Any], job_id: str, description: str) -> bool:
    """Enqueue unless a job with this id already exists (a retried parent job must not double it)."""
    q = Queue(queue, connection=context.connection(), serializer=JSONSerializer)
    try:
        q.enqueue(
            func,
            payload,
            job_id=job_id,
            unique=True,
            retry=job_retry(context.settings()),
            job_timeout=context.settings().jobs.timeout_s,
            description=description,
        )
    except DuplicateJobError:
        return False
    return True


def _timeline(pipe: redis.client.Pipeline, conv_id: str, entry: dict[str, Any]) -> None:
    pipe.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the ticket (or add a comment to the conversation's ticket), then queue the acknowledgement."""
    c = Commitment.model_validate(payload)
    keyword = sms_inbound.handle_keyword(c)  # STOP/START/HELP/STATUS: answered here, never a ticket
    if keyword is not None:
        return keyword
    r = context.connection()
    c = _with_detected_language(r, c)
    if c.message.channel == "slack":
        c = with_slack_identity(r, context.settings(), c)
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
            sms_inbound.after_commit(c, ref)
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
    sms_inbound.after_commit(c, ref)
    ack = acknowledgement(c, ref)  # a request that belongs to an open incident is linked and told its status
    flags = c.message.flags
    if flags.auto_reply or flags.unverified_sender or flags.bounce:
        # Never answer a machine (RFC 3834), nor a sender whose domain failed DMARC: the reply would go to a victim.
        with r.pipeline() as pipe:
            _timeline(pipe, c.conversation, {"event": "ack_suppressed", "request_id": c.message.id})
            pipe.execute()
        return {"ticket": ref, "created": True}
    if ack.event == "incident_update":
        _queue_replies(c.conversation, ack.event, ack.key, {**ack.context, "evidence": c.evidence})
    else:
        event = cast(ReplyEvent, c.route.auto_reply_template)
        extra = {"request_id": c.message.id, "evidence": c.evidence, **reply_context(c, rules, utcnow(), r)}
        _queue_replies(c.conversation, event, ack.key, extra)
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


def _reply_context(conv_id: str, conv: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
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


def _queue_replies(conv_id: str, event: ReplyEvent, event_key: str, extra: dict[str, Any]) -> int:
    r = context.connection()
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}
    replies = plan_replies(
        context.templates(),
        conv_id,
        conv,
        event,
        _reply_context(conv_id, conv, extra),
        context.settings().default_language,
    )
    queued = 0
    for reply in replies:
        job_id = f"reply-{event_key}-{reply.channel}"
        if enqueue_once(
            REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), job_id, f"{event} reply ({reply.channel})"
        ):
            queued += 1
    return queued


def queue_replies(conv_id: str, event: ReplyEvent, event_key: str, extra: dict[str, Any]) -> int:
    """Queue an event's reply on each of a conversation's channels; job ids derive from event_key, so once each."""
    return _queue_replies(conv_id, event, event_key, extra)


def send_reply(payload: dict[str, Any]) -> str:
    """Deliver one reply on its channel. Recorded once per job id, so a retry never sends twice."""
    reply = Reply.model_validate(payload)
    r = context.connection()
    job = get_current_job()
    delivery_key = job.id if job else hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    if r.sismember(keys.deliveries(reply.conversation), delivery_key):
        return "already delivered"
    if reply.channel == "email" and context.settings().channels.email.enabled:
        outcome = send_email_reply(r, context.settings(), reply, delivery_key)
        r.sadd(keys.deliveries(reply.conversation), delivery_key)
        log.info("reply %s", outcome, extra={"channel": reply.channel, "event": reply.event})
        return outcome
    if reply.channel == "slack" and context.settings().channels.slack.enabled:
        outcome = send_slack_reply(r, context.settings(), reply, delivery_key)
        r.sadd(keys.deliveries(reply.conversation), delivery_key)
        log.info("reply %s", outcome, extra={"channel": reply.channel, "event": reply.event})
        return outcome
    if reply.channel == "sms" and context.settings().channels.twilio.enabled:
        outcome = send_sms_reply(r, context.settings(), reply, delivery_key)
        r.sadd(keys.deliveries(reply.conversation), delivery_key)
        log.info("reply %s", outcome.split(":", 1)[0], extra={"channel": reply.channel, "event": reply.event})
        return outcome
    with r.pipeline() as pipe:
        pipe.sadd(keys.deliveries(reply.conversation), delivery_key)
        if reply.channel == "webform":
            # The web form's channel is the requester's status page.
            _timeline(
                pipe,
                reply.conversation,
                {"event": "reply", "reply_event": reply.event, "text": reply.text, "language": reply.language},
            )
            outcome = "published"
        else:
            # No sender for this channel runs yet: keep the reply on its outbound queue, never drop it.
            pipe.rpush(keys.pending_outbound(reply.channel), reply.model_dump_json())
            outcome = "pending"
        pipe.execute()
    log.info(
        "reply %s", outcome, extra={"channel": reply.channel, "event": reply.event, "conversation": reply.conversation}
    )
    return outcome


def event_id(event: StatusEvent) -> str:
    basis = f"{event.backend}\x1f{event.ticket_ref}\x1f{event.status.value}\x1f{event.at.isoformat()}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def publish_status_event(event: StatusEvent) -> str:
    """Queue a backend's status change for the events worker. Returns the event id."""
    eid = event_id(event)
    enqueue_once(EVENTS_QUEUE, STATUS_EVENT_FUNC, event.model_dump(mode="json"), f"event-{eid}", f"status event {eid}")
    return eid


def handle_status_event(payload: dict[str, Any]) -> str:
    """A ticket changed in a backend: update the conversation and tell the requester on their channel."""
    ev = StatusEvent.model_validate(payload)
    r = context.connection()
    conv_raw = r.get(keys.ticket(ev.backend, ev.ticket_ref))
    if conv_raw is None:
        from workers.incident_jobs import update_from_parent_event  # it builds on this module

        if update_from_parent_event(ev, event_id(ev)):
            return "incident"
        log.info(
            "status event for a ticket intake did not create", extra={"backend": ev.backend, "ticket": ev.ticket_ref}
        )
        return "ignored"
    conv_id = text(conv_raw)
    eid = event_id(ev)
    marker = f"status-{eid}"
    # Check, then write the status, the timeline entry and the marker in one transaction: run twice, written once.
    if not r.sismember(keys.deliveries(conv_id), marker):
        entry: dict[str, Any] = {"event": "status_changed", "status": ev.status.value, "event_id": eid}
        if ev.public_comment:
            entry["comment"] = ev.public_comment
        with r.pipeline() as pipe:
            pipe.hset(keys.conversation(conv_id), "status", ev.status.value)
            _timeline(pipe, conv_id, entry)
            pipe.sadd(keys.deliveries(conv_id), marker)
            pipe.execute()
        if ev.status is not TicketStatus.NEW:
            stop_clocks(r, conv_id, resolved=ev.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED))
    kind: ReplyEvent = "resolved" if ev.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) else "status_changed"
    _queue_replies(conv_id, kind, f"{kind}-{eid}", {"status": ev.status.value, "comment": ev.public_comment or ""})
    return eid
