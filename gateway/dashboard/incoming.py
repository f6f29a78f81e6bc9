"""What arrived: the commit counts each committed request (gateway/store/commit.py) by channel and queue, per
minute and per day of the district's calendar; these read the counts back for the last hour and today."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import redis

from gateway import keys
from gateway.store.redis_conn import text

HOUR_MINUTES = 60


@dataclass
class Incoming:
    """Requests committed, keyed by (channel, queue)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_channel(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (channel, _), n in self.counts.items():
            out[channel] += n
        return dict(sorted(out.items()))

    def by_queue(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (_, queue), n in self.counts.items():
            out[queue] += n
        return dict(sorted(out.items()))


def _add(into: Incoming, raw: dict[bytes | str, bytes | str]) -> None:
    for k, v in raw.items():
        channel, _, queue = text(k).partition("|")
        into.counts[(channel, queue)] += int(text(v))


def read(client: redis.Redis, now: datetime, zone: ZoneInfo) -> tuple[Incoming, Incoming]:
    """(the last hour, today in `zone`): the last hour is the 60 minutes up to and including the current one."""
    minute = int(now.timestamp()) // 60
    with client.pipeline(transaction=False) as pipe:
        for m in range(minute - HOUR_MINUTES + 1, minute + 1):
            pipe.hgetall(keys.incoming_minute(m))
        pipe.hgetall(keys.incoming_day(now.astimezone(zone).date().isoformat()))
        results = pipe.execute()
    hour, today = Incoming(), Incoming()
    for raw in results[:-1]:
        _add(hour, raw)
    _add(today, results[-1])
    return hour, today
