"""Operating incidents: open (with a parent ticket), confirm or dismiss a proposal, update, close; and the fan-out.

An update is recorded first (with its sequence number and how many children it owes), then told
to every linked requester by a chain of fan-out jobs, one chunk of children each, with
deterministic job ids (`incident-fanout-<id>-<seq>-<start>`). Each child's reply is an ordinary
reply job, `reply-incident-<id>-<seq>-<conversation>-<channel>`, so the outbox picks its channel
and language and `send_reply` records it once. A fan-out killed half-way is retried from its chunk:
the replies it had queued already exist (or are recorded as delivered), so nobody gets a second
message and nobody is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway import keys
from gateway.dashboard.changes import announce
from gateway.ids import new_id
from gateway.incidents.match import MatchCriteria
from gateway.incidents.store import Incident, IncidentStore, Update
from gateway.models import Commitment, InboundMessage, Priority, Route, StatusEvent, TicketStatus, utcnow
from gateway.store.queues import FANOUT_FUNC
from gateway.store.redis_conn import text
from workers import context
from workers.incident_link import incident_context, link_conversation
from workers.incident_repair import requeue_lost
from workers.queues import EVENTS_QUEUE, enqueue_once
from workers.replies import queue_replies

log = logging.getLogger("intake.incidents")

Clock = Callable[[], datetime]
# Marking one child takes milliseconds; a lock left by a killed job must not hold its retry up for long.
CHILD_LOCK_S = 5
CHILD_LOCK_WAIT_S = 15


class IncidentError(Exception):
    """An operator asked for something the incident's state does not allow; the message says why."""


def _store() -> IncidentStore:
    return IncidentStore(context.connection())


def _require(store: IncidentStore, incident_id: str) -> Incident:
    inc = store.get(incident_id)
    if inc is None:
        raise IncidentError(f"no incident {incident_id}")
    return inc


def _parent_ticket(inc: Incident) -> str:
    """Create the incident's parent ticket (idempotently: the key is the incident id)."""
    school = inc.criteria.schools[0] if inc.criteria.schools else None
    category = inc.criteria.categories[0] if inc.criteria.categories else None
    message = InboundMessage(
        id=new_id(), channel="webform", account="incidents", sender="", subject=f"Incident: {inc.title}",
        text=f"Incident {inc.id}: {inc.title}. Requests about it are linked to this ticket.",
        category=category, campus=school,
    )  # fmt: skip
    route = Route(queue="incidents", backend=inc.backend, priority=Priority.HIGH, category=category, tags=("incident",))
    c = Commitment(message=message, fingerprint=f"incident-{inc.id}", conversation=f"incident-{inc.id}", route=route)
    return context.backend(inc.backend).create_ticket(c, idempotency_key=f"incident-{inc.id}")


def open_incident(title: str, criteria: MatchCriteria, clock: Clock = utcnow, origin: str = "operator") -> Incident:
    """Open an active incident with its parent ticket: from now on matching requests are linked to it."""
    store = _store()
    at = clock()
    inc = Incident(
        id=store.next_id(), title=title, state="closed", criteria=criteria, backend=context.settings().backends.default,
        origin=origin, opened_at=at, updated_at=at,
    )  # fmt: skip
    store.save(inc)  # stored closed first: a crash before the parent ticket exists leaves nothing half-open
    inc = inc.model_copy(update={"parent_ref": _parent_ticket(inc), "state": "open"})
    store.save(inc)
    log.info("incident opened", extra={"incident": inc.id, "ticket": inc.parent_ref})
    announce(context.connection(), "incidents")
    return inc


def confirm_incident(
    incident_id: str, title: str | None = None, criteria: MatchCriteria | None = None, clock: Clock = utcnow
) -> tuple[Incident, int]:
    """Make a proposal an open incident; link the requests that made the surge and tell them its status."""
    store = _store()
    inc = _require(store, incident_id)
    if inc.state != "proposed":
        raise IncidentError(f"incident {incident_id} is {inc.state}, not proposed")
    changes: dict[str, Any] = {"updated_at": clock()}
    if title:
        changes["title"] = title
    if criteria:
        changes["criteria"] = criteria
    inc = inc.model_copy(update=changes)
    inc = inc.model_copy(update={"parent_ref": _parent_ticket(inc), "state": "open"})
    store.save(inc)
    linked = 0
    r = store.r
    for conv in store.candidates(incident_id):
        raw = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv)).items()}
        ref, backend_name = raw.get("ticket_ref"), raw.get("backend", inc.backend)
        if not ref:
            continue  # not delivered yet: it is matched against the open incident when it is
        request_id = raw.get("first_request", conv)
        extra = link_conversation(store, context.backend(backend_name), inc, conv, ref, request_id, "surge")
        queue_replies(conv, "incident_update", f"incident-ack-{request_id}", extra)
        linked += 1
    log.info("incident confirmed", extra={"incident": inc.id, "linked": linked})
    announce(context.connection(), "incidents")
    return inc, linked


def dismiss_incident(incident_id: str, clock: Clock = utcnow) -> Incident:
    store = _store()
    inc = _require(store, incident_id)
    if inc.state != "proposed":
        raise IncidentError(f"incident {incident_id} is {inc.state}; only a proposal can be dismissed")
    inc = inc.model_copy(update={"state": "dismissed", "updated_at": clock()})
    store.save(inc)
    announce(context.connection(), "incidents")
    return inc


def close_incident(incident_id: str, clock: Clock = utcnow) -> Incident:
    """Stop linking new requests. Nobody is messaged: `update --status resolved` is what tells people."""
    store = _store()
    inc = _require(store, incident_id)
    if inc.state != "open":
        raise IncidentError(f"incident {incident_id} is {inc.state}, not open")
    inc = inc.model_copy(update={"state": "closed", "updated_at": clock()})
    store.save(inc)
    announce(context.connection(), "incidents")
    return inc


def _fanout_job_id(incident_id: str, seq: int, start: int) -> str:
    return f"incident-fanout-{incident_id}-{seq}-{start}"


def _enqueue_fanout(incident_id: str, seq: int, start: int) -> bool:
    payload = {"incident": incident_id, "seq": seq, "start": start}
    job_id = _fanout_job_id(incident_id, seq, start)
    return enqueue_once(EVENTS_QUEUE, FANOUT_FUNC, payload, job_id, f"incident {incident_id} update {seq} fan-out")


def update_incident(
    incident_id: str, status: TicketStatus, message: str, actor: str, clock: Clock = utcnow
) -> tuple[int, int]:
    """Record an update and start telling every linked requester. Returns (sequence number, requesters)."""
    store = _store()
    inc = _require(store, incident_id)
    if inc.state != "open":
        raise IncidentError(f"incident {incident_id} is {inc.state}; only an open incident can be updated")
    seq, total = store.record_update(incident_id, status, message, clock())
    context.backend(inc.backend).set_status(
        inc.parent_ref, status, message or None, actor, f"incident-{incident_id}-{seq}"
    )
    _enqueue_fanout(incident_id, seq, 0)
    log.info("incident updated", extra={"incident": incident_id, "seq": seq, "children": total})
    announce(context.connection(), "incidents")
    return seq, total


def update_from_parent_event(event: StatusEvent, event_id: str) -> str | None:
    """A backend changed an incident's parent ticket: tell the children as `intake incident update` would.

    Returns the incident id, or None when the ticket is no incident's parent. Run twice, recorded once.
    """
    store = _store()
    incident_id = store.by_ticket(event.backend, event.ticket_ref)
    inc = store.get(incident_id) if incident_id else None
    if inc is None or inc.state != "open":
        return None
    seq, total = store.record_update(inc.id, event.status, event.public_comment or "", event.at, event_id)
    if seq < 0:
        resume_fanouts()  # seen before: make sure its fan-out was queued
        return inc.id
    _enqueue_fanout(inc.id, seq, 0)
    log.info("incident updated from its parent ticket", extra={"incident": inc.id, "seq": seq, "children": total})
    return inc.id


def resume_fanouts() -> int:
    """Queue again every unfinished fan-out whose job a crash prevented or a killed worker dropped. Returns how many."""
    store = _store()
    resumed = 0
    for incident_id, seq in store.pending_fanouts():
        done, _ = store.fanout_progress(incident_id, seq)
        if _enqueue_fanout(incident_id, seq, done):
            resumed += 1
        else:
            resumed += requeue_lost(EVENTS_QUEUE, [_fanout_job_id(incident_id, seq, done)])
    return resumed


def _mark_child(store: IncidentStore, inc: Incident, update: Update, conv: str) -> None:
    """Set the child's status (conversation, timeline, and its ticket in its backend) once per update."""
    # Under the conversation's lock: a fan-out job whose worker died can still be running when its retry starts.
    with store.r.lock(keys.conversation_lock(conv), timeout=CHILD_LOCK_S, blocking_timeout=CHILD_LOCK_WAIT_S):
        _mark_child_locked(store, inc, update, conv)


def _mark_child_locked(store: IncidentStore, inc: Incident, update: Update, conv: str) -> None:
    marker = f"incident-{inc.id}-{update.seq}"
    r = store.r
    if r.sismember(keys.deliveries(conv), marker):
        return
    raw = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv)).items()}
    ref, backend_name = raw.get("ticket_ref"), raw.get("backend", inc.backend)
    if ref:
        # Keyed by the update and the ticket: a retried chunk finds its own change already made.
        context.backend(backend_name).set_status(
            ref, TicketStatus(update.status), update.message or None, f"incident {inc.id}", f"{marker}-{ref}"
        )
    entry = {"at": utcnow().isoformat(), "event": "status_changed", "status": update.status,
             "incident": inc.id, "seq": update.seq}  # fmt: skip
    if update.message:
        entry["comment"] = update.message
    with r.pipeline() as pipe:
        pipe.hset(keys.conversation(conv), "status", update.status)
        pipe.rpush(keys.timeline(conv), json.dumps(entry))
        pipe.sadd(keys.deliveries(conv), marker)
        pipe.execute()


def fan_out(payload: dict[str, Any]) -> dict[str, Any]:
    """Tell one chunk of an update's children, then queue the next chunk. Safe to run again after a crash."""
    incident_id, seq, start = str(payload["incident"]), int(payload["seq"]), int(payload["start"])
    store = _store()
    inc = _require(store, incident_id)
    update = store.update(incident_id, seq)
    if update is None:
        raise IncidentError(f"incident {incident_id} has no update {seq}")
    stop = min(start + context.settings().incidents.fanout_chunk, update.children)
    extra = incident_context(inc, update.status, update.message)
    queued = 0
    for conv in store.children(incident_id, start, stop):
        _mark_child(store, inc, update, conv)
        queued += queue_replies(conv, "incident_update", f"incident-{incident_id}-{seq}-{conv}", extra)
    done, _ = store.fanout_progress(incident_id, seq)
    store.fanout_advanced(incident_id, seq, max(done, stop), update.children)
    if stop < update.children:
        _enqueue_fanout(incident_id, seq, stop)
    log.info("incident fan-out chunk", extra={"incident": incident_id, "seq": seq, "start": start, "queued": queued})
    return {"start": start, "stop": stop, "queued": queued}
