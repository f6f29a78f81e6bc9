"""At delivery: link a new request to the open incident it belongs to, and choose its acknowledgement.

A request whose route names an incident (a rule's action), or that matches an open incident's
criteria, becomes a child of the incident's parent ticket and is told the incident's current
status at once instead of the generic "we received your request". Every other request is counted
by the surge detector, which may propose an incident (linking and messaging nobody).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gateway import keys
from gateway.incidents.match import Matcher
from gateway.incidents.store import Incident, IncidentStore
from gateway.incidents.surge import STATES_TO_CHECK, SurgeDetector
from gateway.models import Commitment, ReplyEvent, utcnow
from workers import context
from workers.backends.base import TicketBackend

log = logging.getLogger("intake.incidents")


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Which reply a new ticket's requester gets: the event, the key its job ids derive from, and its context."""

    event: ReplyEvent
    key: str
    context: dict[str, Any] = field(default_factory=dict)


def told_marker(incident_id: str) -> str:
    """The conversation's record (in its deliveries) that the family was told it is part of this incident: on
    arrival or at a surge's confirmation by the incident's status, at the desk by `incident_linked`. Once each."""
    return f"incident-told-{incident_id}"


def incident_context(incident: Incident, status: str, message: str) -> dict[str, Any]:
    """What the incident_update templates are given, on top of the reply context every template gets."""
    return {"incident_title": incident.title, "status": status, "comment": message}


def _named_by_route(store: IncidentStore, c: Commitment) -> Incident | None:
    wanted = c.route.incident_id
    if not wanted:
        return None
    inc = store.get(wanted)
    if inc is None or not inc.links:
        log.warning("the route names an incident that is not open: matching instead", extra={"incident": wanted})
        return None
    return inc


def find_incident(
    store: IncidentStore, c: Commitment, timeout_s: float, open_now: list[Incident] | None = None
) -> tuple[Incident, str] | None:
    """The incident a new request belongs to, and the evidence: `rule` (its route named it) or `match`.

    `open_now`: the open incidents, when the caller has just read them."""
    named = _named_by_route(store, c)
    if named is not None:
        return named, "rule"
    for inc in store.in_state("open") if open_now is None else open_now:
        if inc.links and Matcher(inc.criteria, timeout_s).matches(c.message):
            return inc, "match"
    return None


def link_conversation(
    store: IncidentStore,
    backend: TicketBackend,
    inc: Incident,
    conversation: str,
    ref: str,
    request_id: str,
    why: str,
    *,
    told: bool = True,
) -> dict[str, Any]:
    """Make the conversation's ticket a child of the incident's parent; return the reply context of its status.

    `told`: the caller tells the family the incident's status now (so a later link at the desk does not again)."""
    if backend.name == inc.backend:
        backend.link_child(inc.parent_ref, ref)
    else:
        log.warning("incident parent is in another backend: linked in intake only", extra={"incident": inc.id})
    link = store.link(inc.id, conversation)
    evidence = f"incident:{inc.id}"
    entry = {"at": utcnow().isoformat(), "event": "incident_linked", "incident": inc.id, "evidence": why}
    with store.r.pipeline() as pipe:
        pipe.hset(keys.request(request_id), mapping={"incident": evidence, "incident_evidence": why})
        pipe.hset(keys.conversation(conversation), "incident", inc.id)
        if told:
            pipe.sadd(keys.deliveries(conversation), told_marker(inc.id))
        if link.new:
            pipe.rpush(keys.timeline(conversation), json.dumps(entry))
        pipe.execute()
    log.info("request linked to incident", extra={"request_id": request_id, "incident": inc.id, "evidence": why})
    return {"request_id": request_id, **incident_context(inc, link.status, link.message)}


def acknowledgement(c: Commitment, ref: str) -> Acknowledgement:
    """Link the new ticket to its incident (if any) and say which acknowledgement its requester gets."""
    settings = context.settings()
    store = IncidentStore(context.connection())
    timeout_s = settings.incidents.match_timeout_ms / 1000
    known = store.in_states(STATES_TO_CHECK)  # read once for the match and the surge detector both
    found = find_incident(store, c, timeout_s, known["open"])
    if found is None:
        flags = c.message.flags
        if not (flags.auto_reply or flags.bounce or flags.spam):
            SurgeDetector(store.r, settings, store).observe(c.message, c.conversation, utcnow, known)
        return Acknowledgement("received", f"received-{c.message.id}", {"request_id": c.message.id})
    inc, why = found
    extra = link_conversation(store, context.backend(c.route.backend), inc, c.conversation, ref, c.message.id, why)
    return Acknowledgement("incident_update", f"incident-ack-{c.message.id}", extra)
