"""What the sentinels say about the primary, for `intake doctor`: where it is, its replicas, whether a failover
could be agreed on, and what a commit waits for."""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.settings import Settings
from gateway.store.redis_conn import sentinel_addresses, sentinel_kwargs, text

Check = tuple[str, bool, str]


def _ask(host: str, port: int, settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
    # Asked once: a sentinel that does not answer is the finding, not something to retry.
    once = Retry(NoBackoff(), 0)
    client = redis.Redis(host=host, port=port, decode_responses=True, retry=once, **sentinel_kwargs(settings))
    name = settings.redis.master_name
    try:
        master = cast(dict[str, Any], client.sentinel_master(name))
        replicas: list[dict[str, Any]] = client.sentinel_slaves(name)
        try:
            quorum = text(client.execute_command("SENTINEL", "CKQUORUM", name))  # type: ignore[no-untyped-call]
        except redis.ResponseError as exc:  # NOQUORUM: the answer is the problem
            quorum = str(exc)
        return master, replicas, quorum
    except redis.RedisError:
        return None
    finally:
        client.close()


def _healthy(replica: dict[str, Any]) -> bool:
    return not (replica.get("is_sdown") or replica.get("is_disconnected")) and replica.get("master-link-status") == "ok"


def sentinel_checks(settings: Settings) -> list[Check]:
    """One check for the sentinels and the primary they agree on, one for the replicas a commit waits for."""
    addresses = sentinel_addresses(settings)
    answers = [(f"{h}:{p}", _ask(h, p, settings)) for h, p in addresses]
    reached = [(where, a) for where, a in answers if a is not None]
    if not reached:
        return [("sentinels", False, f"none of {len(addresses)} answered: no process can find the primary")]
    where, (master, replicas, quorum) = reached[0]
    ok = quorum.startswith("OK") and not (master.get("is_sdown") or master.get("is_odown"))
    detail = (
        f"{len(reached)} of {len(addresses)} answered; primary {settings.redis.master_name!r} at "
        f"{master.get('ip')}:{master.get('port')} (asked {where}); quorum {master.get('quorum')}: {quorum}"
    )
    unreached = [w for w, a in answers if a is None]
    if unreached:
        detail += f"; not answering: {', '.join(unreached)}"
    checks: list[Check] = [("sentinels", ok and not unreached, detail)]
    healthy = [r for r in replicas if _healthy(r)]
    listed = ", ".join(f"{r.get('ip')}:{r.get('port')} ({'ok' if _healthy(r) else 'down'})" for r in replicas)
    wanted = settings.redis.replicas_to_wait
    waits = f"commits wait for {wanted} with WAIT" if wanted else "commits wait for none (redis.wait_replicas 0)"
    short = f"; fewer than {wanted} healthy: requests wait in each web process's spool" if len(healthy) < wanted else ""
    checks.append(("replicas", len(healthy) >= max(wanted, 1), f"{listed or 'none'}; {waits}{short}"))
    return checks
