"""`intake doctor`: can this installation keep its promises right now?"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import TYPE_CHECKING, Any

import redis

from gateway import keys
from gateway.directory.identity import directory_report
from gateway.logs import mask
from gateway.mail.health import mailbox_report
from gateway.settings import Settings
from gateway.store.redis_access import access_problems
from gateway.store.redis_conn import check_durability, sync_client, text
from gateway.store.sentinel_state import sentinel_checks

if TYPE_CHECKING:
    from workers.parked import Parking


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def backend_checks(client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Each enabled ticket system: its own check (credentials, mapped queues), its circuit, what waits on it."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    from gateway.store.queues import deliver_queue_name
    from workers.backends import enabled_backends
    from workers.circuit import state_from

    checks = []
    for name, cls in enabled_backends(settings).items():
        problems = cls.from_settings(settings).check()
        state = state_from(name, client.hgetall(keys.backend_circuit(name)))
        queue = Queue(deliver_queue_name(name), connection=client)
        held = ScheduledJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
        waiting = queue.count + held + StartedJobRegistry(queue=queue).count
        detail = mask("; ".join(problems) or "ok")
        if not state.ok:
            detail = f"{mask(state.describe())}; {detail}"
        detail += f"; {waiting} request(s) waiting to be delivered"
        checks.append(_check(f"backend {name}", not problems and state.ok, detail))
        if "polling" in cls.status_source:
            health = {text(k): text(v) for k, v in client.hgetall(keys.sync_health(name)).items()}
            failing = int(health.get("failures") or 0)
            sync = f"last good poll {health.get('ok_at') or 'never'}"
            if failing:
                sync += f"; {failing} failed poll(s) in a row ({mask(health.get('error', ''))})"
            checks.append(_check(f"status sync {name}", not failing and bool(health.get("ok_at")), sync))
    return checks


def _parking_checks(client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """One check per channel with parked replies: how many this configuration would send now, and why the
    others wait. Fine while they wait only for a channel this configuration does not switch on."""
    from workers import context
    from workers.parked import release_parked

    context.configure(settings)
    parking = release_parked(client, context.channels(), context.services(), dry_run=True)
    sendable = "can be sent now: a worker sends them when it starts and every 10 minutes (`intake replay` now)"
    checks = []
    for channel, detail in describe_parking(parking, sendable).items():
        waiting = parking.waiting.get(channel, Counter())
        fine = not parking.released[channel] and all(why.endswith("is not switched on") for why in waiting)
        checks.append(_check(f"{channel} outbound", fine, detail))
    if not checks:
        checks.append(_check("outbound", True, "no reply is waiting for its channel"))
    return checks


def describe_parking(parking: Parking, released: str) -> dict[str, str]:
    """What release_parked found, per channel; `released` says what became of the replies it could send."""
    found = {}
    for channel in sorted({*parking.released, *parking.waiting}):
        parts = [f"{parking.released[channel]} reply(ies) {released}"] if parking.released[channel] else []
        parts += (f"{n} waiting: {why}" for why, n in sorted(parking.waiting.get(channel, Counter()).items()))
        found[channel] = "; ".join(parts)
    return found


def channel_checks(settings: Settings) -> list[dict[str, Any]]:
    """What each switched-on channel checks of its own provider (a workspace's token, say), as the channel says."""
    from channels import CHANNELS

    found = (cls.doctor_checks(settings) for cls in CHANNELS.values() if cls.enabled(settings))
    return [_check(name, ok, detail) for checks in found for name, ok, detail in checks]


def diagnose(settings: Settings) -> dict[str, Any]:
    from workers.runner import dead_letters, failure_reason

    checks = []
    client = sync_client(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        refused = access_problems(settings)
        detail = "; ".join(refused) or f"unreachable ({type(exc).__name__}); messages go to the local spool"
        checks.append(_check("redis", False, detail))
        if settings.redis.sentinels:  # where the sentinels say the primary is, and why it cannot be reached
            checks.extend(_check(name, ok, detail) for name, ok, detail in sentinel_checks(settings))
    else:
        checks.append(_check("redis", True, "reachable"))
        d = check_durability(client)
        detail = f"appendonly={d.appendonly} appendfsync={d.appendfsync} (redis {d.version})"
        checks.append(_check("durability", d.ok, "; ".join(d.problems) or detail))
        if settings.redis.sentinels:
            checks.extend(_check(name, ok, detail) for name, ok, detail in sentinel_checks(settings))
        dead = dead_letters(client, settings)
        detail = f"{len(dead)} job(s) failed every try, or were refused; `intake replay` once fixed"
        detail += "".join(f"\n    {q} {jid}: {mask(failure_reason(client, jid))}" for q, jid in dead[:20])
        checks.append(_check("dead letters", not dead, detail))
        checks.extend(backend_checks(client, settings))
        checks.extend(channel_checks(settings))
        checks.extend(_parking_checks(client, settings))
        for h in mailbox_report(client, settings):
            checks.append(_check(f"mailbox {h.mailbox}", h.ok, "; ".join(h.problems) or "healthy"))
        quarantined = [json.loads(x) for x in client.lrange(keys.MAIL_QUARANTINE, 0, 19)]
        waiting = int(client.llen(keys.MAIL_QUARANTINE))
        detail = f"{waiting} message(s) could not be parsed and wait for an operator"
        if waiting > len(quarantined):
            detail += f" (the newest {len(quarantined)} below; `intake quarantine list` shows every one)"
        detail += "".join(f"\n    {q['mailbox']}/{q['folder']} uid {q['uid']}: {q['reason']}" for q in quarantined)
        checks.append(_check("quarantine", not quarantined, detail))
    finally:
        client.close()
    spool = settings.path_in_data("spool.sqlite3")
    depth = 0
    if spool.exists():
        db = sqlite3.connect(spool)
        try:
            depth = int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
        except sqlite3.OperationalError:
            depth = 0
        finally:
            db.close()
    checks.append(_check("spool", depth == 0, f"{depth} message(s) waiting to be replayed into Redis"))
    checks.extend(_check(name, ok, detail) for name, ok, detail in directory_report(settings.identity))
    return {"ok": all(c["ok"] for c in checks), "checks": checks}
