"""A ticket linked to an incident at the desk joins it as a request the rules link does (workers/incident_link.py).

Its conversation becomes one of the incident's children, so every later update's fan-out tells the family on their
own channel (workers/incident_jobs.py), and the ticket becomes a child of the incident's parent ticket when both
are in the built-in store. Unlinking takes it off the children: later updates skip it, and it tells no one.

A request linked on arrival is told the incident's status as its acknowledgement; one linked at the desk was
acknowledged already, so the family is told once, then, that their request is part of a known problem
(`incident_linked`): the events worker queues it (telling.py) out their channel through the outbox. It is
told once per incident and conversation, however often the desk links, unlinks and links again.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from gateway import keys
from gateway.ids import new_id
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import utcnow
from gateway.settings import Settings
from gateway.store.queues import EVENTS_QUEUE, TELL_INCIDENT_LINK_FUNC, enqueue_once
from gateway.tickets import Ticket
from workers.backends.builtin import BuiltinBackend
from workers.desk_actions.assigning import conversation_fields
from workers.incident_link import link_conversation, told_marker
from workers.locks import conversation_lock


def relink(r: redis.Redis, backend: BuiltinBackend, ticket: Ticket, incident: Incident | None) -> dict[str, Any] | None:
    """Make the ticket's conversation a child of `incident` (None: of no incident), leaving the one it had.

    Returns what the family is to be told, when they joined it now and were never told of it: the incident's status
    and latest word as they were at the link (an update after it reaches them by its own fan-out), else None."""
    conv = ticket.conversation
    incidents = IncidentStore(r)
    with conversation_lock(r, conv):
        fields = conversation_fields(r, conv)
        if not fields.get("ticket_ref"):
            return None  # a ticket the gateway never delivered (an imported one) has no channel to be told on
        before = fields.get("incident")
        if before and (incident is None or incident.id != before):
            _leave(r, incidents, backend, ticket, before)
        if incident is None or not incident.parent_ref:  # a proposal has no parent yet, and links no one
            return None
        already = bool(r.sismember(keys.incident_child_set(incident.id), conv))
        request_id = fields.get("first_request", conv)
        told = link_conversation(incidents, backend, incident, conv, str(ticket.id), request_id, "desk", told=False)
        if already or r.sismember(keys.deliveries(conv), told_marker(incident.id)):
            return None
        return told


def tell_linked(r: redis.Redis, settings: Settings, conversation: str, incident_id: str, told: dict[str, Any]) -> None:
    """Queue the events worker's word to the family that their request is part of the incident (telling.py), with
    the reply context `relink` returned.

    Each link queues its own job (a job that found the request unlinked again must not stand in for a later link);
    the worker tells each conversation once per incident, whatever number of jobs it runs."""
    payload = {"conversation": conversation, "incident": incident_id, "context": told}
    job_id = f"incident-link-{incident_id}-{conversation}-{new_id()}"
    enqueue_once(r, settings, EVENTS_QUEUE, TELL_INCIDENT_LINK_FUNC, payload, job_id, f"incident {incident_id} link")


def _leave(r: redis.Redis, incidents: IncidentStore, backend: BuiltinBackend, ticket: Ticket, incident_id: str) -> None:
    incidents.unlink(incident_id, ticket.conversation)
    left = incidents.get(incident_id)
    if left is not None and left.parent_ref and left.backend == backend.name:
        backend.store.unlink_child(left.parent_ref, ticket.id)
    entry = {"at": utcnow().isoformat(), "event": "incident_unlinked", "incident": incident_id}
    with r.pipeline() as pipe:
        pipe.hdel(keys.conversation(ticket.conversation), "incident")
        pipe.rpush(keys.timeline(ticket.conversation), json.dumps(entry))
        pipe.execute()
