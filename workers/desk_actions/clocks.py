"""A new priority or queue at the desk moves the ticket's response clocks, as routing would have set them.

The due times are computed again the way the deliver worker did (workers/routing_stage.py plan_ticket): the SLA
policy the ticket was routed with (else the rules' default), the new priority's targets, the new queue's hours in
the policy's calendar, the closures declared, from when the request arrived (a reopened ticket's resolution clock:
from when it was reopened, workers/status_events.py). A first response already given stays as it is; every clock
still to be met moves, on the ticket and in Redis (renamed with its new queue and priority: the breach counts are
kept per queue and priority), and the conversation keeps them for the clocks' later stops.

A clock that already ran out was counted as a breach by the sweep. Its breach is decided again by its new due time,
so the ticket and the counts never disagree: still past, the breach stands (counted where it happened); ahead, the
breach is withdrawn, the clock runs again, and the audit log keeps the breach that was (`sla_breach_withdrawn`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from gateway import keys
from gateway.calendars.closures import closures
from gateway.models import Priority
from gateway.routing.model import RuleSet
from gateway.routing.sla import Due, clock_start, due_times, move_clock
from gateway.tickets import OPEN_STATUSES, Ticket, TicketStore
from workers.desk_actions.assigning import conversation_fields
from workers.locks import conversation_lock

KINDS = ("first_response", "resolution")


def move_clocks(r: redis.Redis, store: TicketStore, rules: RuleSet, before: Ticket, after: Ticket, actor: str) -> None:
    """Recompute an open ticket's due times after its priority or queue changed: on the ticket and in Redis."""
    if after.status not in OPEN_STATUSES or (before.priority, before.queue) == (after.priority, after.queue):
        return
    conv = after.conversation
    with conversation_lock(r, conv):
        fields = conversation_fields(r, conv)
        policy, closed = fields.get("sla_policy") or rules.default_sla, set(closures(r))

        def due(kind: str) -> Due:  # a reopened ticket's resolution clock counts from its reopening
            start = clock_start(fields, kind) or after.created_at
            return due_times(rules, policy, Priority(after.priority), after.queue, start, closed)

        new = {"first_response": due("first_response").first_response, "resolution": due("resolution").resolution}
        old = {"first_response": before.first_response_due, "resolution": before.resolution_due}
        kinds = [k for k in KINDS if k == "resolution" or after.first_response_at is None]
        for kind in kinds:
            store.set_due(after.id, kind, new[kind])
        if not fields:
            return  # a ticket the gateway never delivered has no clocks in Redis
        was = (fields.get("queue") or before.queue, fields.get("priority") or before.priority)
        now = datetime.now(UTC)
        for kind in kinds:
            moved = move_clock(r, kind, conv, was, (after.queue, after.priority), new[kind], now,
                               start=old[kind] is None)  # fmt: skip
            if moved.outcome == "withdrawn":
                store.record(actor, "sla_breach_withdrawn", after.id, clock=kind, counted=moved.counted,
                             was_due=_iso(old[kind]), due=_iso(new[kind]))  # fmt: skip
        r.hset(keys.conversation(conv), mapping={"queue": after.queue, "priority": after.priority})


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
