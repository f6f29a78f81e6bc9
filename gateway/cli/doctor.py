"""`intake doctor`: can this installation keep its promises right now?"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import redis

from gateway import keys
from gateway.directory.identity import directory_report
from gateway.mail.health import mailbox_report
from gateway.settings import Settings
from gateway.store.redis_conn import check_durability, sync_client


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def diagnose(settings: Settings) -> dict[str, Any]:
    from workers.backends import backend_checks
    from workers.runner import dead_letters

    checks = []
    client = sync_client(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        checks.append(_check("redis", False, f"unreachable ({type(exc).__name__}); messages go to the local spool"))
    else:
        checks.append(_check("redis", True, "reachable"))
        d = check_durability(client)
        detail = f"appendonly={d.appendonly} appendfsync={d.appendfsync} (redis {d.version})"
        checks.append(_check("durability", d.ok, "; ".join(d.problems) or detail))
        dead = dead_letters(client, settings)
        checks.append(_check("dead letters", not dead, f"{len(dead)} job(s) failed every try; `intake replay`"))
        pending = client.llen(keys.pending_outbound("email"))
        checks.append(_check("email outbound", True, f"{pending} reply(ies) waiting for a mailbox that sends"))
        if settings.channels.slack.enabled:
            from channels.slack.api import workspace_checks

            checks.extend(_check(name, ok, detail) for name, ok, detail in workspace_checks(settings.channels.slack))
            pending = client.llen(keys.pending_outbound("slack"))
            checks.append(_check("slack outbound", pending == 0, f"{pending} reply(ies) for a team with no workspace"))
        for h in mailbox_report(client, settings):
            checks.append(_check(f"mailbox {h.mailbox}", h.ok, "; ".join(h.problems) or "healthy"))
        quarantined = [json.loads(x) for x in client.lrange(keys.MAIL_QUARANTINE, 0, 19)]
        detail = f"{client.llen(keys.MAIL_QUARANTINE)} message(s) could not be parsed and wait for an operator"
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
    checks.extend(_check(name, ok, detail) for name, ok, detail in backend_checks(settings))
    return {"ok": all(c["ok"] for c in checks), "checks": checks}
