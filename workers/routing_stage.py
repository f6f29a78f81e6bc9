"""Deliver-time routing: the parts that need state, done in the worker rather than on the request path.

- SLA due times (the policy's calendar, the queue's hours, today's closures from Redis),
- the assignee picked from the route's group (skipping people marked away; round robin or fewest open),
- the clocks the breach sweep watches (stopped by a resolution, the resolution's run again on a reopening), and
  the acknowledgement's "we'll respond by",
- a copy of what was routed, so `intake rules test --replay N` can show what new rules would change.

A retried deliver job must not pick another assignee nor count an open ticket twice, so the
decision is written once to the request record and reused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import redis

from gateway import keys
from gateway.calendars.closures import closures
from gateway.calendars.local_time import when
from gateway.models import Commitment, Priority, Route
from gateway.routing.model import Group, RuleSet
from gateway.routing.router import Router
from gateway.routing.sla import breach_field, clock_member, due_times
from gateway.settings import Settings
from gateway.store.redis_conn import text

log = logging.getLogger("intake.routing")


class WorkerRules:
    """The rule set a worker uses: loaded once, looked at again at most every reload interval."""

    def __init__(self, settings: Settings) -> None:
        self.router = Router(settings)
        self.interval = settings.routing.reload_interval_s
        self.checked = time.monotonic()

    def current(self) -> RuleSet:
        if time.monotonic() - self.checked >= self.interval:
            self.checked = time.monotonic()
            self.router.reload_if_changed()
        return self.router.rules


def pick_assignee(r: redis.Redis, group: Group) -> str | None:
    """One member of the group who is not away: in turn, or the one with the fewest open tickets."""
    away = {text(x) for x in r.smembers(keys.ASSIGN_AWAY)}
    available = [m for m in group.members if m not in away]
    if not available:
        return None
    if group.balance == "round_robin":
        turn = int(r.incr(keys.assign_cursor(group.name))) - 1
        chosen = available[turn % len(available)]
    else:
        counts = r.hmget(keys.assign_open(group.name), available)
        load = [int(text(c)) if c is not None else 0 for c in counts]
        chosen = available[load.index(min(load))]
    r.hincrby(keys.assign_open(group.name), chosen, 1)
    return chosen


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""


def _at(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def plan_ticket(
    r: redis.Redis, c: Commitment, rules: RuleSet, saved: dict[str, str] | None = None, closed: set[date] | None = None
) -> Commitment:
    """The commitment with its assignee and due times filled in; the same answer on every retry.

    `saved` (the request's record) and `closed` (today's closures) when the caller has read them already."""
    route = c.route
    if saved is None:
        saved = {text(k): text(v) for k, v in r.hgetall(keys.request(c.message.id)).items()}
    if "routed_at" not in saved:
        closed = set(closures(r)) if closed is None else closed
        due = due_times(rules, route.sla_policy, route.priority, route.queue, c.message.received_at, closed)
        group = rules.groups.get(route.assignee_group or "")
        assignee = pick_assignee(r, group) if group else None
        saved = {
            "routed_at": datetime.now(UTC).isoformat(),
            "assignee": assignee or "",
            "first_response_due": _iso(due.first_response),
            "resolution_due": _iso(due.resolution),
        }
        r.hset(keys.request(c.message.id), mapping={k: v for k, v in saved.items()})
    update: dict[str, Any] = {
        "assignee": saved.get("assignee") or None,
        "first_response_due": _at(saved.get("first_response_due", "")),
        "resolution_due": _at(saved.get("resolution_due", "")),
    }
    return c.model_copy(update={"route": route.model_copy(update=update)})


def start_clocks(pipe: redis.client.Pipeline, c: Commitment) -> None:
    """Watch the ticket's due times, and remember what its status changes need (queue, priority, assignee)."""
    route = c.route
    for kind, due in (("first_response", route.first_response_due), ("resolution", route.resolution_due)):
        if due is not None:
            member = clock_member(kind, route.queue, route.priority.value, c.conversation)
            pipe.zadd(keys.SLA_DUE, {member: due.timestamp()})
    fields = {"queue": route.queue, "priority": route.priority.value}
    if route.sla_policy:
        # What `intake calendar close` needs to move the clocks when a closure is declared later.
        fields |= {"sla_policy": route.sla_policy, "clock_start": c.message.received_at.isoformat()}
    if route.assignee and route.assignee_group:
        fields |= {"assignee": route.assignee, "assign_group": route.assignee_group, "assignee_open": "1"}
    pipe.hset(keys.conversation(c.conversation), mapping={k: v for k, v in fields.items()})


def stop_clocks(r: redis.Redis, conversation: str, resolved: bool) -> None:
    """A status change is the first response; a resolution also stops the resolution clock and frees the assignee."""
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conversation)).items()}
    queue, priority = conv.get("queue"), conv.get("priority")
    if not queue or not priority:
        return  # a conversation from before clocks existed
    kinds = ("first_response", "resolution") if resolved else ("first_response",)
    with r.pipeline() as pipe:
        pipe.zrem(keys.SLA_DUE, *(clock_member(k, queue, priority, conversation) for k in kinds))
        pipe.hdel(keys.SLA_BREACHED, *(breach_field(k, conversation) for k in kinds))  # a stopped clock is history
        pipe.execute()
    if resolved and conv.get("assign_group") and r.hdel(keys.conversation(conversation), "assignee_open"):
        r.hincrby(keys.assign_open(conv["assign_group"]), conv["assignee"], -1)


def count_reopened(r: redis.Redis, pipe: redis.client.Pipeline, conversation: str) -> None:
    """A reopened ticket is its assignee's open ticket again, for the fewest_open balancer: counted back once (the
    flag a resolution took is set again with the count, in the caller's transaction with the decision)."""
    group, assignee, counted = r.hmget(keys.conversation(conversation), ["assign_group", "assignee", "assignee_open"])
    if group and assignee and counted is None:
        pipe.hset(keys.conversation(conversation), "assignee_open", "1")
        pipe.hincrby(keys.assign_open(text(group)), text(assignee), 1)


@dataclass(frozen=True)
class Reopened:
    """A reopened ticket's resolution clock: when it is due now, and what its conversation keeps for later moves."""

    due: datetime
    fields: dict[str, str]


def plan_reopened(
    conv: Mapping[str, str], rules: RuleSet, queue: str, priority: str, at: datetime, closed: Set[date]
) -> Reopened | None:
    """The resolution clock of a ticket reopened at `at`, from then on under its SLA policy (else the rules'
    default), its priority and its queue's hours; None when no target applies. The first response given stays."""
    policy = conv.get("sla_policy") or rules.default_sla
    if policy is None or priority not in {p.value for p in Priority}:
        return None
    due = due_times(rules, policy, Priority(priority), queue, at, closed).resolution
    if due is None:
        return None
    fields = {"queue": queue, "priority": priority, "sla_policy": policy, "resolution_start": at.isoformat()}
    return Reopened(due, fields)


def restart_clock(pipe: redis.client.Pipeline, conversation: str, reopened: Reopened) -> None:
    """Run the resolution clock again (one member per conversation and kind: reopening twice is still one clock)."""
    member = clock_member("resolution", reopened.fields["queue"], reopened.fields["priority"], conversation)
    pipe.zadd(keys.SLA_DUE, {member: reopened.due.timestamp()})
    pipe.hdel(keys.SLA_BREACHED, breach_field("resolution", conversation))  # a new clock, with no breach yet
    pipe.hset(keys.conversation(conversation), mapping={k: v for k, v in reopened.fields.items()})


def reply_context(
    c: Commitment, rules: RuleSet, zone_now: datetime, r: redis.Redis, closed: set[date] | None = None
) -> dict[str, str]:
    """What the acknowledgement says about time: when we will respond, and when the office next opens.

    `closed`: today's closures, when the caller has read them already."""
    route, language = c.route, c.message.requester.locale or c.message.language
    policy = rules.sla_policies.get(route.sla_policy or "")
    calendar = rules.calendars.get(policy.calendar) if policy else next(iter(rules.calendars.values()), None)
    out = {"first_response_due": "", "next_open": ""}
    if route.first_response_due is not None:
        out["first_response_due"] = when(route.first_response_due, rules.zone, language, zone_now)
    if calendar is not None:
        opens = calendar.next_open(zone_now, route.queue, set(closures(r)) if closed is None else closed)
        if opens is not None and opens > zone_now:
            out["next_open"] = when(opens, calendar.zone, language, zone_now)
    return out


def remember_routed(r: redis.Redis, c: Commitment, keep: int) -> None:
    """Keep the newest `keep` routed requests (as committed) for `intake rules test --replay`."""
    with r.pipeline() as pipe:
        routed_into(pipe, c, keep)
        pipe.execute()


def routed_into(pipe: redis.client.Pipeline, c: Commitment, keep: int) -> None:
    """remember_routed's writes, queued on the caller's pipeline (its transaction)."""
    if keep > 0:
        pipe.lpush(keys.ROUTED_RECENT, c.model_dump_json())
        pipe.ltrim(keys.ROUTED_RECENT, 0, keep - 1)


def route_summary(route: Route) -> dict[str, Any]:
    """The route fields an operator compares (what the rules decide, not what delivery filled in)."""
    return route.model_dump(
        mode="json", exclude={"assignee", "first_response_due", "resolution_due", "incident_id", "rule_ids"}
    )
