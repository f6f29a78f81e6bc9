"""The dashboard's picture, read in parts: each part is read again only when its topic changed (a text that
arrives re-reads the incoming counts, not a million tickets), and everything at the periodic refresh.

Reads are blocking (the store, Redis through redis-py): the hub runs `read` in a thread, once per refresh for
every watcher of the process together.
"""

from __future__ import annotations

import logging
from collections.abc import Set
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import redis

from gateway import keys
from gateway.calendars.closures import closures
from gateway.dashboard.changes import TOPICS
from gateway.dashboard.incoming import Incoming, read
from gateway.dashboard.waits import WaitsMemo
from gateway.incidents.store import IncidentStore
from gateway.mail.health import mailbox_report
from gateway.reports import ranges
from gateway.reports.compute import Waits, business_clock
from gateway.routing.model import RuleSet
from gateway.routing.sla import counts as breach_counts
from gateway.settings import Settings
from gateway.surveys.report import csat_rows
from gateway.tickets import TicketQuery, TicketStore
from workers.circuit import state_from

log = logging.getLogger("intake.dashboard")
PARTS = (*TOPICS, "health")
SOONEST = 8


@dataclass(frozen=True)
class Clock:
    ticket: int
    queue: str
    priority: str
    kind: str  # first_response or resolution
    due: datetime
    overdue: bool


@dataclass(frozen=True)
class IncidentLine:
    id: str
    title: str
    status: str
    children: int
    fanned_out: int  # of the latest update's `total`
    total: int
    updated_at: str


@dataclass(frozen=True)
class Health:
    name: str
    kind: str  # redis, spool, mailbox, backend, channel
    ok: bool
    detail: str = ""
    # What is wrong, as (word, count) for the staff words to say: ("health_parked", 3) is three replies waiting
    notes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    hour: Incoming = field(default_factory=Incoming)
    today: Incoming = field(default_factory=Incoming)
    queues: tuple[str, ...] = ()
    open: dict[str, int] = field(default_factory=dict)
    unassigned: dict[str, int] = field(default_factory=dict)
    due_soon: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    clocks: tuple[Clock, ...] = ()
    running_clocks: int = 0  # of which `clocks` are the SOONEST due soonest
    breaches: dict[tuple[str, str], int] = field(default_factory=dict)
    incidents: tuple[IncidentLine, ...] = ()
    response: Waits = field(default_factory=Waits)
    # The family surveys sent in the last dashboard.response_days days: rows per dimension (gateway/surveys/report.py)
    satisfaction: dict[str, list[list[str]]] = field(default_factory=dict)
    health: tuple[Health, ...] = ()
    failed: tuple[str, ...] = ()  # parts that could not be read this time (their last values are shown)


@dataclass
class Sources:
    """What a web process reads the picture from."""

    settings: Settings
    store: TicketStore
    redis: redis.Redis
    rules: RuleSet
    channels: tuple[str, ...]
    backends: tuple[str, ...]
    spool_depth: int = 0
    memo: WaitsMemo = field(default_factory=WaitsMemo)  # kept by the caller from one read to the next


def _by_queue(store: TicketStore, query: TicketQuery) -> dict[str, int]:
    return {str(k[0]): n for k, n in store.counts(("queue",), query).items()}


def _kind(first_response_at: datetime | None) -> str:
    return "first_response" if first_response_at is None else "resolution"


def _tickets(src: Sources, snap: Snapshot, now: datetime) -> Snapshot:
    store, conf = src.store, src.settings.dashboard
    within = conf.due_soon
    opened = _by_queue(store, TicketQuery(status=("open",)))
    clocks = tuple(
        Clock(
            t.id,
            t.queue,
            t.priority,
            "first_response" if t.first_response_at is None else "resolution",
            t.next_due,
            t.next_due < now,
        )
        for t in store.soonest_due(SOONEST)
        if t.next_due is not None
    )
    days: Set[date] = set(closures(src.redis))
    rows = store.raw_clocks(now - timedelta(days=conf.response_days), now)
    waits = src.memo.waits(rows, src.rules, days, business_clock(src.rules, days))
    return replace(
        snap,
        queues=tuple(sorted(set(opened) | set(snap.today.by_queue()))),
        open=opened,
        unassigned=_by_queue(store, TicketQuery(status=("open",), unassigned=True)),
        due_soon=_by_queue(store, TicketQuery(due="soon", due_within=within)),
        overdue=_by_queue(store, TicketQuery(due="overdue")),
        clocks=clocks,
        running_clocks=store.running_clocks(),
        response=waits,
        satisfaction=_satisfaction(src, now),
    )


SATISFACTION_BY = ("department", "channel", "language", "school", "period")


def _satisfaction(src: Sources, now: datetime) -> dict[str, list[list[str]]]:
    """Surveys of the same days as the response times, per dimension and per period (the trend), against the goal."""
    s = src.settings
    today = ranges.today(s, now)
    rng = ranges.resolve(s, "custom", first=today - timedelta(days=s.dashboard.response_days - 1), last=today)
    return {by: csat_rows(src.redis, rng, by, s.surveys.goal_percent) for by in SATISFACTION_BY}


def _incoming(src: Sources, snap: Snapshot, now: datetime) -> Snapshot:
    hour, today = read(src.redis, now, src.settings.zone)
    return replace(snap, hour=hour, today=today, queues=tuple(sorted(set(snap.open) | set(today.by_queue()))))


def _sla(src: Sources, snap: Snapshot, now: datetime) -> Snapshot:
    """The breaches that stand: those counted less those staff withdrew (a new target still ahead)."""
    with src.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.SLA_BREACHES)
        pipe.hgetall(keys.SLA_WITHDRAWN)
        counted, withdrawn = (breach_counts(raw) for raw in pipe.execute())
    standing: dict[tuple[str, str], int] = {}
    for (queue, priority, kind), n in counted.items():
        standing[(queue, kind)] = standing.get((queue, kind), 0) + n - withdrawn.get((queue, priority, kind), 0)
    return replace(snap, breaches={k: n for k, n in sorted(standing.items()) if n > 0})


def _incidents(src: Sources, snap: Snapshot, now: datetime) -> Snapshot:
    store = IncidentStore(src.redis)
    lines = []
    for inc in store.in_state("open"):
        done, total = store.fanout_progress(inc.id, inc.seq) if inc.seq else (0, 0)
        lines.append(
            IncidentLine(inc.id, inc.title, inc.status.value, inc.children, done, total, inc.updated_at.isoformat())
        )
    return replace(snap, incidents=tuple(lines))


def _health(src: Sources, snap: Snapshot, now: datetime) -> Snapshot:
    items = [Health("redis", "redis", True), Health("spool", "spool", src.spool_depth == 0, str(src.spool_depth))]
    failing_boxes = 0
    if src.settings.channels.email.enabled:
        for h in mailbox_report(src.redis, src.settings):
            items.append(Health(h.mailbox, "mailbox", h.ok, "; ".join(h.problems)))
            failing_boxes += not h.ok
    for name in src.backends:
        state = state_from(name, src.redis.hgetall(keys.backend_circuit(name)))
        items.append(Health(name, "backend", state.ok, state.kind))
    items.extend(_channels(src, failing_boxes))
    return replace(snap, health=tuple(items))


def _channels(src: Sources, failing_boxes: int) -> list[Health]:
    """A channel needs attention while replies wait on its outbound list (no worker could send them: a provider
    refusing us, a sender not switched on; workers/parked.py) or, for email, while a mailbox is failing."""
    with src.redis.pipeline(transaction=False) as pipe:
        for name in src.channels:
            pipe.llen(keys.pending_outbound(name))
        parked = [int(n) for n in pipe.execute()]
    out = []
    for name, waiting in zip(src.channels, parked, strict=True):
        notes = [("health_parked", waiting)] if waiting else []
        if name == "email" and failing_boxes:
            notes.append(("health_mailboxes", failing_boxes))
        out.append(Health(name, "channel", not notes, notes=tuple(notes)))
    return out


READERS = {"incoming": _incoming, "tickets": _tickets, "sla": _sla, "incidents": _incidents, "health": _health}


def read_parts(src: Sources, previous: Snapshot, parts: Set[str], now: datetime) -> Snapshot:
    """The picture with `parts` read again and the rest kept from `previous`. A part that fails keeps its last
    values and is named in `failed` (Redis away: the page says so, and the next refresh tries again)."""
    snap = replace(previous, at=now, failed=())
    failed = []
    for part in PARTS:  # in order: health reads the last hour's counts the incoming part just read
        if part not in parts:
            continue
        try:
            snap = READERS[part](src, snap, now)
        except Exception as exc:
            log.warning("dashboard part not read", extra={"part": part, "error": type(exc).__name__})
            failed.append(part)
    if "redis" not in failed and any(p in failed for p in ("incoming", "sla", "incidents", "health")):
        snap = replace(snap, health=(Health("redis", "redis", False), *snap.health[1:]))
    return replace(snap, failed=tuple(failed))
