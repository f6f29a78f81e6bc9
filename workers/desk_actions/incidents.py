"""A ticket linked to an incident at the desk joins it as a request the rules link does (workers/incident_link.py).

Its conversation becomes one of the incident's children, so every later update's fan-out tells the family on their
own channel (workers/incident_jobs.py), and the ticket becomes a child of the incident's parent ticket when both
are in the built-in store. Unlinking takes it off the children: later updates skip it. Linking tells the family
nothing by itself (a request linked on arrival gets the incident's status as its acknowledgement; this one was
acknowledged already): the next update reaches them.
"""

from __future__ import annotations

import json

import redis

from gateway import keys
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import utcnow
from gateway.tickets import Ticket
from workers.backends.builtin import BuiltinBackend
from workers.desk_actions.assigning import conversation_fields
from workers.incident_link import link_conversation
from workers.locks import conversation_lock


def relink(r: redis.Redis, backend: BuiltinBackend, ticket: Ticket, incident: Incident | None) -> None:
    """Make the ticket's conversation a child of `incident` (None: of no incident), leaving the one it had."""
    conv = ticket.conversation
    incidents = IncidentStore(r)
    with conversation_lock(r, conv):
        fields = conversation_fields(r, conv)
        if not fields.get("ticket_ref"):
            return  # a ticket the gateway never delivered (an imported one) has no channel to be told on
        before = fields.get("incident")
        if before and (incident is None or incident.id != before):
            _leave(r, incidents, backend, ticket, before)
        if incident is not None and incident.parent_ref:  # a proposal has no parent yet, and links no one
            request_id = fields.get("first_request", conv)
            link_conversation(incidents, backend, incident, conv, str(ticket.id), request_id, "desk")


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
