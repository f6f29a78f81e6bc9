"""desk_queries.py's store: a district's two years of tickets, seeded, written through the store's own tables.

The store is made and migrated by TicketStore.open (so its indexes, search triggers and generated columns are the
real ones on either engine), then filled with Core inserts a batch at a time. What the desk's reads depend on is
shaped like a district's: departments, channels, languages and schools of unequal size; a twentieth of the
tickets still open (new, open, in progress or waiting) with a running clock; families who write about four times
in two years (by email, and by phone on SMS and voice); people who work one department; a few incidents; words
drawn from a Zipf vocabulary, so a search finds anything from most tickets to a handful; comments, status
history, time entries and files on the tickets.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

BATCH = 10_000
QUEUES = {"it": 40, "transportation": 20, "general": 15, "hr": 10, "communications": 10, "facilities": 5}
CHANNELS = {"email": 35, "sms": 25, "webform": 25, "slack": 10, "voice": 5}
LANGUAGES = {"en": 70, "es": 20, "vi": 5, "zh": 5}
SCHOOLS = tuple(f"s{i:02d}" for i in range(12))
OPEN_STATUSES = {"new": 40, "open": 30, "in_progress": 20, "waiting": 10}
PRIORITIES = {"normal": 60, "low": 15, "high": 18, "urgent": 7}
RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# Each department's own people: an agent works one department.
STAFF = {q: tuple(f"{q[:4]}{i:02d}" for i in range(n)) for q, n in zip(QUEUES, (16, 8, 6, 4, 3, 3), strict=True)}
WORK_TYPES = ("break_fix", "training", "curriculum_support", "project")
INCIDENTS = tuple(f"inc-{i}" for i in range(40))
NAMED = (
    "bus", "late", "chromebook", "screen", "broken", "password", "wifi", "lincoln", "stop", "driver", "printer",
    "badge", "payroll", "benefits", "newsletter", "grades", "portal", "login", "cracked", "charger", "route",
    "morning", "afternoon", "teacher", "classroom", "projector", "email", "account", "locked", "form",
)  # fmt: skip
_SYLLABLES = ("ka", "lo", "mi", "ten", "ra", "su", "bel", "no", "vi", "dor", "pa", "chi", "ser", "gu", "fan", "ti")
# The named words first (the commonest), then made-up ones; word k is drawn with weight 1/(k+1).
VOCAB = NAMED + tuple("".join(p) for p in itertools.product(_SYLLABLES, repeat=3))[:5000]
_CUM = list(itertools.accumulate(1 / (k + 1) for k in range(len(VOCAB))))


def _pick(weights: dict[str, int]) -> Callable[[random.Random], str]:
    names, cum = list(weights), list(itertools.accumulate(weights.values()))
    return lambda rng: rng.choices(names, cum_weights=cum)[0]


queue_of, channel_of, language_of = _pick(QUEUES), _pick(CHANNELS), _pick(LANGUAGES)
open_status, priority_of = _pick(OPEN_STATUSES), _pick(PRIORITIES)


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(VOCAB, cum_weights=_CUM, k=n))


def _ticket(i: int, tickets: int, now: datetime, rng: random.Random) -> dict[str, Any]:
    created = now - timedelta(seconds=(tickets - i) * (730 * 86400 / tickets) + rng.randrange(60))
    open_ = rng.random() < 0.05 or i > tickets - 2000
    first_at = None if open_ and rng.random() < 0.6 else created + timedelta(minutes=rng.randrange(5, 600))
    resolved = None if open_ else (first_at or created) + timedelta(minutes=rng.randrange(10, 5000))
    first_due = created + timedelta(hours=rng.choice((1, 4, 8)))
    resolution_due = created + timedelta(hours=rng.choice((16, 40, 72)))
    queue, channel, priority = queue_of(rng), channel_of(rng), priority_of(rng)
    family = rng.randrange(max(1, tickets // 4))
    assigned = rng.random() < (0.6 if open_ else 0.9)
    return {
        "id": i, "idempotency_key": f"bench-{i}", "conversation": f"conv-{i}",
        "status": open_status(rng) if open_ else rng.choice(("resolved", "resolved", "closed")),
        "subject": words(rng, 5), "body": words(rng, 30), "channel": channel,
        "category": rng.choice(("devices", "buses", "payroll", "accounts", None)), "queue": queue,
        "priority": priority, "priority_rank": RANK[priority],
        "school": None if rng.random() < 0.1 else rng.choice(SCHOOLS), "language": language_of(rng),
        "requester_name": f"Family {family}", "requester_email": f"family{family}@example.org",
        "requester_phone": f"+1555{family:07d}" if channel in ("sms", "voice") else None,
        "requester_role": "parent", "assignee": rng.choice(STAFF[queue]) if assigned else None,
        "created_at": created, "updated_at": resolved or first_at or created,
        "first_response_due": first_due, "resolution_due": resolution_due,
        "next_due": None if not open_ else first_due if first_at is None else resolution_due,
        "first_response_at": first_at, "resolved_at": resolved,
        "incident_id": rng.choice(INCIDENTS) if rng.random() < 0.005 else None,
    }  # fmt: skip


def _extras(ticket: dict[str, Any], comments: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    i, created = ticket["id"], ticket["created_at"]
    out: dict[str, list[dict[str, Any]]] = {"comments": [], "status_history": [], "time_entries": [], "attachments": []}
    for n in range(rng.randint(0, 2 * comments)):
        family = n % 2 == 1
        out["comments"].append({
            "ticket_id": i, "author": ticket["requester_name"] if family else (ticket["assignee"] or "staff"),
            "body": words(rng, 20), "public": family or rng.random() < 0.7,
            "created_at": created + timedelta(minutes=30 * (n + 1)), "author_kind": "requester" if family else "staff",
            "channel": ticket["channel"] if family else "desk",
        })  # fmt: skip
    out["status_history"].append({"ticket_id": i, "status": "new", "actor": "system", "at": created})
    if ticket["resolved_at"] is not None:
        out["status_history"].append({"ticket_id": i, "status": ticket["status"], "previous_status": "new",
                                      "actor": ticket["assignee"] or "staff", "at": ticket["resolved_at"]})  # fmt: skip
        if rng.random() < 0.2:
            out["time_entries"].append({"ticket_id": i, "person": ticket["assignee"] or "staff",
                                        "minutes": rng.randrange(5, 120), "work_type": rng.choice(WORK_TYPES),
                                        "at": ticket["resolved_at"], "created_at": ticket["resolved_at"]})  # fmt: skip
    if rng.random() < 0.05:
        out["attachments"].append({"ticket_id": i, "filename": "photo.jpg", "content_type": "image/jpeg",
                                   "size": 120_000, "sha256": f"{i:064x}", "storage_key": None, "kept": False,
                                   "reason": "bench"})  # fmt: skip
    return out


def load(url: str, tickets: int, comments: int, say: Callable[[str], None], seed: int = 7) -> float:
    """Fill the store at `url` up to `tickets` tickets (a store kept from an earlier run is topped up, or used as it
    is). Returns the seconds it took (0 when there was nothing to do)."""
    from gateway.tickets import TicketStore
    from gateway.tickets import schema as t
    from gateway.tickets.engine import make_engine

    TicketStore.open(url).close()  # made and migrated as the gateway makes it
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # loading only: the measured store runs with synchronous=FULL

        @sa.event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=OFF")

    with engine.connect() as conn:
        have = int(conn.execute(sa.select(sa.func.count()).select_from(t.tickets)).scalar_one())
    if have >= tickets:
        engine.dispose()
        return 0.0
    now = datetime.now(UTC)
    start = time.monotonic()
    n = have
    while n < tickets:
        rng = random.Random(seed * 1_000_003 + n)
        rows = [_ticket(i, tickets, now, rng) for i in range(n + 1, min(tickets, n + BATCH) + 1)]
        extras = [_extras(r, comments, rng) for r in rows]
        with engine.begin() as conn:
            conn.execute(t.tickets.insert(), rows)
            for table in (t.comments, t.status_history, t.time_entries, t.attachments):
                batch: Sequence[dict[str, Any]] = [row for e in extras for row in e[table.name]]
                if batch:
                    conn.execute(table.insert(), batch)
        n += len(rows)
        say(f"loaded {n:,} tickets ({time.monotonic() - start:.0f} s)")
    # No ANALYZE on SQLite: the gateway never runs it, so a district's store has no statistics and neither has this.
    if not sqlite:  # the ids were given: the next ticket the gateway makes takes the one after them
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.monotonic() - start
