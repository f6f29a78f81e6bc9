"""A new priority or queue at the desk moves the ticket's response clocks, as routing would have set them.

The due times are computed again the way the deliver worker did (workers/routing_stage.py plan_ticket): the SLA
policy the ticket was routed with (else the rules' default), the new priority's targets, the new queue's hours in
the policy's calendar, the closures declared, from when the request arrived. Only clocks still running move: a
first response already given, or a clock that already ran out (counted as a breach by the sweep), stays as it is.
The Redis clock is renamed with its new queue and priority (the breach counts are kept per queue and priority),
and the conversation keeps them for the clocks' later stops.
"""

from __future__ import annotations

from datetime import datetime

import redis

from gateway import keys
from gateway.calendars.closures import closures
from gateway.models import Priority
from gateway.routing.model import RuleSet
from gateway.routing.sla import clock_member, due_times
from gateway.tickets import OPEN_STATUSES, Ticket, TicketStore
from workers.desk_actions.assigning import conversation_fields
from workers.locks import conversation_lock

KINDS = ("first_response", "resolution")


def move_clocks(r: redis.Redis, store: TicketStore, rules: RuleSet, before: Ticket, after: Ticket) -> None:
    """Recompute an open ticket's due times after its priority or queue changed: on the ticket and in Redis."""
    if after.status not in OPEN_STATUSES or (before.priority, before.queue) == (after.priority, after.queue):
        return
    conv = after.conversation
    with conversation_lock(r, conv):
        fields = conversation_fields(r, conv)
        start = datetime.fromisoformat(fields["clock_start"]) if fields.get("clock_start") else after.created_at
        policy = fields.get("sla_policy") or rules.default_sla
        due = due_times(rules, policy, Priority(after.priority), after.queue, start, set(closures(r)))
        new = {"first_response": due.first_response, "resolution": due.resolution}
        if after.first_response_at is None:
            store.set_due(after.id, "first_response", new["first_response"])
        store.set_due(after.id, "resolution", new["resolution"])
        if not fields:
            return  # a ticket the gateway never delivered has no clocks in Redis
        old_queue, old_priority = fields.get("queue") or before.queue, fields.get("priority") or before.priority
        running = [k for k in KINDS if r.zscore(keys.SLA_DUE, clock_member(k, old_queue, old_priority, conv))]
        with r.pipeline() as pipe:
            for kind in running:
                pipe.zrem(keys.SLA_DUE, clock_member(kind, old_queue, old_priority, conv))
                when = new[kind]
                if when is not None:
                    pipe.zadd(keys.SLA_DUE, {clock_member(kind, after.queue, after.priority, conv): when.timestamp()})
            pipe.hset(keys.conversation(conv), mapping={"queue": after.queue, "priority": after.priority})
            pipe.execute()
