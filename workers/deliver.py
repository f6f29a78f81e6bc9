"""Delivering a committed request: the ticket (or a comment on the conversation's ticket), then its acknowledgement.

The channel takes its turn twice: `prepare` before the ticket (a profile lookup, or an answer with
no ticket at all, such as a consent keyword), and `after_ticket` once the ticket exists (fetching
media). Every write is idempotent, so a retried job never doubles a ticket, a comment or a reply:
the ticket system's write is recorded on the request, and a retry that finds it recorded only
finishes what came after it (the acknowledgement).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import redis
from rq import Retry
from rq.job import Job

from channels.base import Channel, Handled
from gateway import keys
from gateway.calendars.closures import closures_from
from gateway.dashboard.changes import announce_in
from gateway.intake.languages import detect_in_worker
from gateway.models import Commitment, ReplyEvent, TicketStatus, utcnow
from gateway.routing.model import RuleSet
from gateway.store.queues import deliver_job_id
from gateway.store.redis_conn import text
from workers import context
from workers.backends.base import TicketBackend
from workers.backends.errors import BackendAuthFailed, BackendRateLimited, BackendRefused, BackendUnavailable
from workers.backends.pacing import PacingTimeout
from workers.circuit import Circuit, held
from workers.incident_link import acknowledgement
from workers.locks import Held, locked_reads
from workers.replies import queue_replies
from workers.routing_stage import plan_ticket, remember_routed, reply_context, routed_into, start_clocks

log = logging.getLogger("intake.jobs")

PENDING = {"queued", "scheduled", "started", "deferred"}


def _timeline(pipe: redis.client.Pipeline, conv_id: str, entry: dict[str, Any]) -> None:
    pipe.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))


def deliver(payload: dict[str, Any]) -> dict[str, Any] | Any:
    """Create the ticket (or add a comment to the conversation's ticket), then queue the acknowledgement.

    Returns rq's Retry instead while the ticket system is out of order (workers/circuit.py): the request is
    held without spending a try. A refusal (BackendRefused) is raised and dead-lettered at once (runner.py).
    """
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
    # A follow-up goes where its conversation's ticket is, whatever today's rules would pick. The circuit of the
    # backend the rules picked is read with it (one round trip): that is nearly always the one.
    routed = context.circuit(c.route.backend)
    with r.pipeline(transaction=False) as pipe:
        pipe.hget(keys.conversation(c.conversation), "backend")
        routed.until_in(pipe)
        conversation_backend, until = pipe.execute()
    target = text(conversation_backend or "") or c.route.backend
    circuit = routed if target == c.route.backend else context.circuit(target)
    admission = circuit.admit(until) if circuit is routed else circuit.admit()
    if admission.hold_s is not None:
        log.info("request held: its ticket system is out of order",
                 extra={"request_id": c.message.id, "backend": target, "hold_s": round(admission.hold_s)})  # fmt: skip
        return held(admission.hold_s)
    try:
        outcome = _deliver(r, c, channel, rules, context.backend(target), circuit)
    except BackendRefused:
        circuit.succeeded()  # the system answered: it is up, it just will not take this request
        raise
    except (BackendRateLimited, BackendAuthFailed) as exc:
        return held(circuit.failed(exc))
    except BackendUnavailable as exc:
        wait = circuit.failed(exc)
        if admission.probe:
            return held(wait)
        raise  # a try is spent only when the system looked up: a request it chokes on still ends dead-lettered
    except PacingTimeout:
        return held(float(context.settings().backends.outages.hold_initial_s))
    if isinstance(outcome, Retry):  # held before calling (a follow-up waiting for its ticket): the system said nothing
        if admission.probe:
            circuit.release_probe()
        return outcome
    circuit.succeeded()
    return outcome


@dataclass(frozen=True, slots=True)
class Known:
    """What a delivery reads under its conversation's lock, in the round trip that takes the lock (locked_reads):
    the request's record (a retry finds its ticket there), the conversation's ticket, and today's closures (its
    due times and its acknowledgement)."""

    request: dict[str, str]
    conversation_ticket: str | None
    closed: set[date]


def _reads(c: Commitment) -> Callable[[redis.client.Pipeline], None]:
    def reads(pipe: redis.client.Pipeline) -> None:
        pipe.hgetall(keys.request(c.message.id))
        pipe.hget(keys.conversation(c.conversation), "ticket_ref")
        pipe.hgetall(keys.CALENDAR_CLOSURES)

    return reads


def _known(answers: list[Any]) -> Known:
    request, existing, closed = answers
    return Known(
        request={text(k): text(v) for k, v in request.items()},
        conversation_ticket=None if existing is None else text(existing),
        closed=set(closures_from(closed)),
    )


def _deliver(
    r: redis.Redis, c: Commitment, channel: Channel | None, rules: RuleSet, backend: TicketBackend, circuit: Circuit
) -> dict[str, Any] | Any:
    with locked_reads(r, c.conversation, _reads(c)) as lock:
        known = _known(lock.answers)
        done, made = known.request.get("ticket_ref"), known.request.get("created")
        existing = known.conversation_ticket
        created = done is None and existing is None
        if done is not None:
            # A retry of a job whose ticket write is recorded: finish what came after it, write nothing again.
            ref, created = done, made is not None
            c = plan_ticket(r, c, rules, known.request, known.closed) if created else c
        elif existing is not None:
            ref = existing
            backend.add_comment(ref, c, idempotency_key=c.message.id)
            with r.pipeline() as pipe:
                _timeline(pipe, c.conversation, {"event": "comment_added", "request_id": c.message.id})
                pipe.hset(keys.request(c.message.id), "ticket_ref", ref)
                announce_in(pipe, "tickets")
                closed = circuit.close_in(pipe)
                closed(lock.release_with(pipe)[-1])
            log.info("comment added", extra={"request_id": c.message.id, "backend": backend.name, "ticket": ref})
        elif c.conversation != c.message.id and _first_still_pending(r, c.conversation):
            # Held jobs come back in any order: a follow-up waits for the request that opens its ticket.
            return held(float(context.settings().backends.outages.hold_initial_s))
        else:
            ref, c = _create(r, c, rules, backend, known, circuit, lock)
    if not created:
        if channel is not None:
            channel.after_ticket(c, ref, context.services())
        return {"ticket": ref, "created": False}
    return _acknowledge(r, c, channel, rules, ref, known.closed)


def _create(
    r: redis.Redis, c: Commitment, rules: RuleSet, backend: TicketBackend, known: Known, circuit: Circuit, lock: Held
) -> tuple[str, Commitment]:
    """The ticket, recorded on the conversation and the request (the conversation's lock let go with the record);
    returns its ref and the planned commitment."""
    routed = c
    c = plan_ticket(r, c, rules, known.request, known.closed)
    ref = backend.create_ticket(c, idempotency_key=c.message.id)
    with r.pipeline() as pipe:
        pipe.hset(keys.conversation(c.conversation),
                  mapping={"ticket_ref": ref, "backend": backend.name, "status": TicketStatus.NEW.value})  # fmt: skip
        school = c.message.campus or c.message.requester.campus
        if school:
            pipe.hset(keys.conversation(c.conversation), "school", school)  # what a survey's answer is counted by
        if c.route.low_rating:
            pipe.hset(keys.conversation(c.conversation), "low_rating", c.route.low_rating)  # the rules' word on it
        pipe.set(keys.ticket(backend.name, ref), c.conversation)
        pipe.hset(keys.request(c.message.id), mapping={"ticket_ref": ref, "created": "1"})
        _timeline(pipe, c.conversation, {"event": "ticket_created", "ticket": ref, "rules": list(c.route.rule_ids)})
        start_clocks(pipe, c)
        routed_into(pipe, routed, context.settings().routing.replay_keep)  # same transaction: one round trip
        announce_in(pipe, "tickets")
        closed = circuit.close_in(pipe)
        closed(lock.release_with(pipe)[-1])
    log.info("ticket created", extra={"request_id": c.message.id, "backend": backend.name, "ticket": ref})
    return ref, c


def _acknowledge(
    r: redis.Redis, c: Commitment, channel: Channel | None, rules: RuleSet, ref: str, closed: set[date]
) -> dict[str, Any]:
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
        extra = {"request_id": c.message.id, "evidence": c.evidence, **reply_context(c, rules, utcnow(), r, closed)}
        queue_replies(c.conversation, event, ack.key, extra)
    return {"ticket": ref, "created": True}


def _first_still_pending(r: redis.Redis, conv_id: str) -> bool:
    """Whether the conversation's first request still waits for its own deliver job (queued, held, running)."""
    first = r.hget(keys.conversation(conv_id), "first_request")
    fingerprint = r.hget(keys.request(text(first)), "fingerprint") if first is not None else None
    if fingerprint is None:
        return False
    status = r.hget(Job.key_for(deliver_job_id(text(fingerprint))), "status")
    return text(status or "") in PENDING


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
