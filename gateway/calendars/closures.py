"""Ad-hoc closures (snow days): declared by `intake calendar close`, kept in Redis so every process sees them.

A closure is a district-local date with a reason. It closes every calendar that day: rules with
`during_closure` switch the automatic replies, and SLA clocks do not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.store.redis_conn import text


def close(r: redis.Redis, day: date, reason: str) -> None:
    r.hset(keys.CALENDAR_CLOSURES, day.isoformat(), reason)


def reopen(r: redis.Redis, day: date) -> bool:
    """Remove a closure. False when that day was not closed."""
    return bool(r.hdel(keys.CALENDAR_CLOSURES, day.isoformat()))


def _parse(raw: Mapping[Any, Any]) -> dict[date, str]:
    out = {}
    for k, v in raw.items():
        try:
            out[date.fromisoformat(text(k))] = text(v)
        except ValueError:
            continue  # not written by us; never let one bad field hide the others
    return dict(sorted(out.items()))


def closures(r: redis.Redis) -> dict[date, str]:
    """Every declared closure, by date."""
    return _parse(r.hgetall(keys.CALENDAR_CLOSURES))


def closures_from(raw: Mapping[Any, Any]) -> dict[date, str]:
    """The closures in the hash at keys.CALENDAR_CLOSURES, read by the caller (in a pipeline with other reads)."""
    return _parse(raw)


async def closures_async(r: aioredis.Redis) -> dict[date, str]:
    """Every declared closure, by date (for the web and mail processes' refresh task)."""
    return _parse(await r.hgetall(keys.CALENDAR_CLOSURES))
