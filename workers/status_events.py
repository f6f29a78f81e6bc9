"""Status changes from a ticket backend: recorded on the conversation once, then told on the requester's channel."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any, cast

import redis

from gateway import keys
from gateway.calendars.closures import closures
from gateway.models import ReplyEvent, StatusEvent, TicketStatus, utcnow
from gateway.store.queues import STATUS_EVENT_FUNC
from gateway.store.redis_conn import text
from workers import context
from workers.backends.builtin import BuiltinBackend
from workers.desk_actions.merging import merged_into
from workers.incident_jobs import update_from_parent_event
from workers.locks import conversation_lock
from workers.queues import EVENTS_QUEUE, enqueue_once
from workers.replies import queue_replies
from workers.routing_stage import Reopened, count_reopened, plan_reopened, restart_clock, stop_clocks
from workers.surveys import schedule_survey

log = logging.getLogger("intake.jobs")

NOTHING = "nothing"  # the event changes nothing the requester can see
DONE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)


def event_id(event: StatusEvent) -> str:
    return event.event_id()


def publish_status_event(event: StatusEvent) -> str:
    """Queue a backend's status change for the events worker. Returns the event id."""
    eid = event_id(event)
    enqueue_once(EVENTS_QUEUE, STATUS_EVENT_FUNC, event.model_dump(mode="json"), f"event-{eid}", f"status event {eid}")
    return eid


def handle_status_event(payload: dict[str, Any]) -> str:
    """A ticket changed in a backend: update the conversation and tell the requester on their channel.

    What the family is told is decided once per event and kept, so a redelivered or retried event says the
    same thing again at most (and its replies' job ids make even that once): a new status (with the staff's
    public comment, if any), a public answer with no change of status (`answer`), or nothing at all (an
    internal note, or a change we already know).
    """
    ev = StatusEvent.model_validate(payload)
    r = context.connection()
    conv_raw = r.get(keys.ticket(ev.backend, ev.ticket_ref))
    if conv_raw is None:
        if update_from_parent_event(ev, event_id(ev)):
            return "incident"
        log.info(
            "status event for a ticket intake did not create", extra={"backend": ev.backend, "ticket": ev.ticket_ref}
        )
        return "ignored"
    conv_id = text(conv_raw)
    eid = event_id(ev)
    if apply_event(r, conv_id, ev) == NOTHING:
        log.info("status event with nothing new for the requester", extra={"backend": ev.backend, "event": eid})
    for merged in merged_into(r, ev.backend, ev.ticket_ref):
        # A ticket merged into this one: its conversation shows this status; the family is told once, above.
        apply_event(r, merged, ev, tell=False)
    return eid


def apply_event(r: redis.Redis, conv_id: str, ev: StatusEvent, *, tell: bool = True) -> str:
    """Record the event on the conversation once and, with `tell`, tell the family; returns what it told them.

    A status looked up while the family asked for it (workers/status_lookup.py) is recorded the same way, so the
    dashboard, the page and later answers agree; a later event saying the same status is then nothing new.
    """
    eid = event_id(ev)
    with conversation_lock(r, conv_id):
        kind = _record(r, conv_id, ev, eid)
    if kind == NOTHING or not tell:
        return kind
    reply_kind = cast(ReplyEvent, kind)
    # A public comment is a person's answer to the family; a bare status change is the gateway's own words.
    queue_replies(conv_id, reply_kind, f"{kind}-{eid}", {"status": ev.status.value, "comment": ev.public_comment or ""},
                  by_person=bool(ev.public_comment))  # fmt: skip
    if kind == "resolved":
        schedule_survey(r, conv_id, eid)  # after the resolution's own reply: the survey follows it
    return kind


def _record(r: redis.Redis, conv_id: str, ev: StatusEvent, eid: str) -> str:
    """Decide what the event tells the family and write it on the conversation, once (under its lock)."""
    decided = r.hget(keys.status_events(conv_id), eid)
    if decided is not None:
        return text(decided)
    closing = ev.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    if r.sismember(keys.deliveries(conv_id), f"status-{eid}"):
        return "resolved" if closing else "status_changed"  # recorded by a release that told every event
    was = text(r.hget(keys.conversation(conv_id), "status") or "")
    changed = was != ev.status.value
    back = changed and not closing and was in DONE and _own(r, conv_id, ev)  # reopened
    reopened = _reopened(r, conv_id, ev) if back else None
    told = "resolved" if closing else "status_changed"
    kind = told if changed else ("answer" if ev.public_comment else NOTHING)
    entry: dict[str, Any] = {"at": utcnow().isoformat(), "event": "status_changed" if changed else "answer",
                             "status": ev.status.value, "event_id": eid}  # fmt: skip
    if ev.public_comment:
        entry["comment"] = ev.public_comment
    with r.pipeline() as pipe:
        if changed:
            pipe.hset(keys.conversation(conv_id), "status", ev.status.value)
        if kind != NOTHING:
            pipe.rpush(keys.timeline(conv_id), json.dumps(entry))
        if reopened is not None:
            restart_clock(pipe, conv_id, reopened)  # with the decision: a redelivered event never restarts it again
        if back:
            count_reopened(r, pipe, conv_id)
        pipe.hset(keys.status_events(conv_id), eid, kind)
        pipe.execute()
    if changed and ev.status is not TicketStatus.NEW:
        stop_clocks(r, conv_id, resolved=closing)
    elif kind == "answer":
        # A person's public answer is the first response as much as a change of status is (the store counts it so).
        stop_clocks(r, conv_id, resolved=False)
    return kind


def _own(r: redis.Redis, conv_id: str, ev: StatusEvent) -> bool:
    """Whether the event's ticket is the conversation's own, not one merged into it (which follows its status)."""
    return text(r.get(keys.ticket(ev.backend, ev.ticket_ref)) or "") == conv_id


def _reopened(r: redis.Redis, conv_id: str, ev: StatusEvent) -> Reopened | None:
    """A resolved or closed ticket opened again (the conversation's own, not one merged into it, whose clocks
    stopped for good): its resolution clock, due from the reopening. The ticket gets the new due time here (a
    built-in one with its audit entry, another system's in its own due field), before the decision is recorded, so
    a retry finishes it."""
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}
    if not conv.get("queue") or not conv.get("priority"):
        return None  # a conversation from before clocks existed
    backend = context.backend(ev.backend)
    store = backend.store if isinstance(backend, BuiltinBackend) else None
    # The store's queue and priority are the ticket's own (staff may have changed them while it was resolved).
    ticket = store.get(ev.ticket_ref) if store is not None else None
    queue, priority = (ticket.queue, ticket.priority) if ticket is not None else (conv["queue"], conv["priority"])
    at = ev.at if ev.at.tzinfo is not None else ev.at.replace(tzinfo=UTC)
    plan = plan_reopened(conv, context.rules().current(), queue, priority, at, set(closures(r)))
    if plan is not None and store is not None:
        store.restart_resolution(ev.ticket_ref, plan.due, ev.actor)
    elif plan is not None:
        backend.set_due(ev.ticket_ref, "resolution", plan.due)  # its own due field (RT's Due), where it has one
    return plan
