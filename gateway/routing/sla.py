"""Response clocks: due times from SLA policies in business time, and breach counting shared through Redis.

Due times are computed by the deliver worker when the ticket is made (the clock starts when the
request arrived). Each open clock is a member of one Redis sorted set scored by its due time; a
first response (any status change) or a resolution removes it. Breaches are found by a sweep that
any process may run (each web process runs it every `routing.sla_sweep_interval_s`, in the background:
a scrape of /metrics only reads): one Lua script moves every overdue clock to the breach counts, so a
clock is counted once however many processes sweep.

A breach is remembered by its clock until the clock stops: staff who then give the ticket a priority or queue
whose target is still ahead withdraw it (`move_clock`), so the counts agree with the ticket's due times. Counts
only rise (a Prometheus counter that fell would read as a reset): a withdrawal is counted on its own, and the
dashboard shows breaches less withdrawals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import redis
import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from gateway import keys
from gateway.dashboard.changes import announce_async
from gateway.models import Priority
from gateway.routing.model import RuleSet
from gateway.store.redis_conn import text
from gateway.tasks import being_cancelled, stop_if_cancelled

log = logging.getLogger("intake.sla")

ClockKind = Literal["first_response", "resolution"]

SWEEP_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, member in ipairs(due) do
  if redis.call('ZREM', KEYS[1], member) == 1 then
    local kind, queue, priority, conv = string.match(member, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    local counted = queue .. '|' .. priority .. '|' .. kind
    redis.call('HINCRBY', KEYS[2], counted, 1)
    redis.call('HSET', KEYS[3], kind .. '|' .. conv, counted)
  end
end
return #due
"""
# One clock to a new name and due time (ARGV: old member, new member, new due or "", now, its breach record's
# field, "1" to start a clock where none could run before). Atomic against the sweep: a clock still running moves;
# one already counted stays breached while its new due time has passed too, else its breach is withdrawn and it
# runs again. Returns {outcome, the breach count it was counted in}.
MOVE_SCRIPT = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
  return {'moved', ''}
end
local counted = redis.call('HGET', KEYS[2], ARGV[5])
if not counted then
  if ARGV[6] == '1' and ARGV[3] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
    return {'started', ''}
  end
  return {'none', ''}
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) <= tonumber(ARGV[4]) then
  return {'stands', counted}
end
redis.call('HDEL', KEYS[2], ARGV[5])
redis.call('HINCRBY', KEYS[3], counted, 1)
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
return {'withdrawn', counted}
"""
Moving = Literal["moved", "started", "none", "stands", "withdrawn"]


@dataclass(frozen=True)
class Due:
    first_response: datetime | None
    resolution: datetime | None


def due_times(
    rules: RuleSet, policy_name: str | None, priority: Priority, queue: str, start: datetime, closures: Set[date]
) -> Due:
    """When the first response and the resolution are due, in the policy's calendar, for the queue's hours."""
    policy = rules.sla_policies.get(policy_name or "")
    if policy is None or priority not in policy.targets:
        return Due(None, None)
    calendar = rules.calendars[policy.calendar]
    target = policy.targets[priority]

    def add(minutes: int | None) -> datetime | None:
        return None if minutes is None else calendar.add_business_minutes(start, minutes, queue, closures)

    return Due(add(target.first_response_minutes), add(target.resolution_minutes))


def clock_member(kind: str, queue: str, priority: str, conversation: str) -> str:
    return f"{kind}|{queue}|{priority}|{conversation}"


def breach_field(kind: str, conversation: str) -> str:
    """The field of SLA_BREACHED that remembers a clock's breach until the clock stops."""
    return f"{kind}|{conversation}"


def clock_start(conversation: Mapping[str, str], kind: str) -> datetime | None:
    """When a clock started, as the conversation keeps it: the request's arrival, or for the resolution clock of a
    ticket reopened since, the reopening (`resolution_start`)."""
    at = (kind == "resolution" and conversation.get("resolution_start")) or conversation.get("clock_start")
    return datetime.fromisoformat(at) if at else None


@dataclass(frozen=True)
class ClockMove:
    outcome: Moving  # moved (it was running), started, none (no clock, no breach), stands, withdrawn
    counted: str = ""  # for `stands` and `withdrawn`: the "<queue>|<priority>|<kind>" the breach was counted in


def move_clock(
    r: redis.Redis, kind: str, conversation: str, old: tuple[str, str], new: tuple[str, str], due: datetime | None,
    now: datetime, *, start: bool = False,
) -> ClockMove:  # fmt: skip
    """Rename a clock from (queue, priority) `old` to `new` with its new due time (None: no target now), deciding
    a breach already counted again by that due time; `start` a clock where the old target had none."""
    found = r.eval(
        MOVE_SCRIPT, 3, keys.SLA_DUE, keys.SLA_BREACHED, keys.SLA_WITHDRAWN,
        clock_member(kind, *old, conversation), clock_member(kind, *new, conversation),
        "" if due is None else repr(due.timestamp()), repr(now.timestamp()), breach_field(kind, conversation),
        "1" if start else "0",
    )  # fmt: skip
    outcome, counted = (text(v) for v in found)
    return ClockMove(outcome, counted)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Moved:
    conversation: str
    kind: str
    due: datetime


def reschedule(r: redis.Redis, rules: RuleSet, closures: Set[date]) -> list[Moved]:
    """Recompute every open clock with today's closures (a snow day declared after tickets were made).

    Each clock's start, policy, priority and queue are on its conversation (written by the worker; a reopened
    ticket's resolution clock starts at its reopening).
    `ZADD XX` only moves clocks that are still open: one stopped meanwhile is not brought back.
    """
    moved = []
    for raw in r.zrange(keys.SLA_DUE, 0, -1, withscores=True):
        member, score = text(raw[0]), float(raw[1])
        kind, queue, priority, conversation = member.split("|", 3)
        conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conversation)).items()}
        start = clock_start(conv, kind)
        if start is None or priority not in {p.value for p in Priority}:
            continue
        due = due_times(rules, conv.get("sla_policy"), Priority(priority), queue, start, closures)
        new = due.first_response if kind == "first_response" else due.resolution
        if new is not None and abs(new.timestamp() - score) >= 1:
            r.zadd(keys.SLA_DUE, {member: new.timestamp()}, xx=True)
            moved.append(Moved(conversation, kind, new))
    return moved


async def sweep_breaches(client: aioredis.Redis, now: datetime) -> int:
    """Count every clock now overdue as a breach, once. Returns how many were found this time."""
    found = await client.eval(SWEEP_SCRIPT, 3, keys.SLA_DUE, keys.SLA_BREACHES, keys.SLA_BREACHED, str(now.timestamp()))
    return int(found)


async def sweep_forever(client: aioredis.Redis, now: Callable[[], datetime], interval_s: float) -> None:
    """Sweep now and every `interval_s` until cancelled; an error of one sweep never stops the next."""
    while True:
        try:
            if await sweep_breaches(client, now()):
                await announce_async(client, "sla")
        except Exception as exc:
            # redis-py may report our own cancellation as a ConnectionError: stop, as asked.
            if being_cancelled():
                raise asyncio.CancelledError from exc
            # Redis away (or refusing writes): the clocks stay in Redis, and the next sweep counts them.
            log.warning("sla sweep failed", extra={"error": type(exc).__name__})
        stop_if_cancelled()
        await asyncio.sleep(interval_s)


def counts(raw: Mapping[Any, Any]) -> dict[tuple[str, str, str], int]:
    """A breach hash (SLA_BREACHES, SLA_WITHDRAWN) as {(queue, priority, kind): count}."""
    out = {}
    for k, v in raw.items():
        parts = text(k).split("|")
        if len(parts) == 3:
            out[(parts[0], parts[1], parts[2])] = int(text(v))
    return out


class BreachCollector(Collector):
    """intake_sla_breaches_total and intake_sla_breaches_withdrawn_total{queue,priority,kind}, from the counts the
    sweep and the desk keep in Redis (breaches still standing: the one less the other)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.withdrawn: dict[tuple[str, str, str], int] = {}

    async def refresh(self, client: aioredis.Redis) -> None:
        self.counts = counts(await client.hgetall(keys.SLA_BREACHES))
        self.withdrawn = counts(await client.hgetall(keys.SLA_WITHDRAWN))

    def collect(self) -> Iterator[CounterMetricFamily]:
        labels = ["queue", "priority", "kind"]
        family = CounterMetricFamily(
            "intake_sla_breaches", "Response clocks that ran past their due time", labels=labels
        )
        for key, value in sorted(self.counts.items()):
            family.add_metric(list(key), value)
        yield family
        withdrawn = CounterMetricFamily(
            "intake_sla_breaches_withdrawn",
            "Breaches withdrawn: staff gave the ticket a priority or department whose due time was still ahead",
            labels=labels,
        )
        for key, value in sorted(self.withdrawn.items()):
            withdrawn.add_metric(list(key), value)
        yield withdrawn
