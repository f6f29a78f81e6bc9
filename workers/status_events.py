"""Status changes from a ticket backend: recorded on the conversation once, then told on the requester's channel."""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway import keys
from gateway.models import ReplyEvent, StatusEvent, TicketStatus, utcnow
from gateway.store.queues import STATUS_EVENT_FUNC
from gateway.store.redis_conn import text
from workers import context
from workers.incident_jobs import update_from_parent_event
from workers.queues import EVENTS_QUEUE, enqueue_once
from workers.replies import queue_replies
from workers.routing_stage import stop_clocks

log = logging.getLogger("intake.jobs")


def event_id(event: StatusEvent) -> str:
    return event.event_id()


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
        entry: dict[str, Any] = {"at": utcnow().isoformat(), "event": "status_changed", "status": ev.status.value,
                                 "event_id": eid}  # fmt: skip
        if ev.public_comment:
            entry["comment"] = ev.public_comment
        with r.pipeline() as pipe:
            pipe.hset(keys.conversation(conv_id), "status", ev.status.value)
            pipe.rpush(keys.timeline(conv_id), json.dumps(entry))
            pipe.sadd(keys.deliveries(conv_id), marker)
            pipe.execute()
        if ev.status is not TicketStatus.NEW:
            stop_clocks(r, conv_id, resolved=ev.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED))
    kind: ReplyEvent = "resolved" if ev.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) else "status_changed"
    # A public comment is a person's answer to the family; a bare status change is the gateway's own words.
    queue_replies(conv_id, kind, f"{kind}-{eid}", {"status": ev.status.value, "comment": ev.public_comment or ""},
                  by_person=bool(ev.public_comment))  # fmt: skip
    return eid
