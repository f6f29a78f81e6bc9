"""Parked replies go back on the replies queue once something can send them.

A reply waits on its channel's outbound list (gateway/outbox/parked.py) when the worker that ran it could
not send it. A worker puts back every parked reply that its own channels can send now: when it starts and
on each of rq's maintenance passes (every 10 minutes), and `intake replay` does the same with its
configuration. A reply goes back once: its new job's id derives from the entry's delivery key (a second
release finds the job already queued), the entry leaves the list only after that job is queued, and the
job sends under its own delivery key, which is recorded when it is sent (a job queued again after its
record expired sends nothing twice).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis

from channels.base import Channel, WorkerServices
from gateway import keys
from gateway.outbox.parked import Parked, parked_channels, read_entry, walk
from gateway.store.queues import SEND_REPLY_FUNC
from gateway.store.redis_conn import text
from workers.queues import REPLIES_QUEUE, enqueue_once

log = logging.getLogger("intake.worker")

UNREADABLE = "the entry cannot be read"


def resend_job_id(p: Parked) -> str:
    return "resend-" + hashlib.sha256(p.key.encode()).hexdigest()[:32]


@dataclass
class Parking:
    """Per channel: the replies put back on the queue, and why the others still wait."""

    released: Counter[str] = field(default_factory=Counter)
    waiting: dict[str, Counter[str]] = field(default_factory=dict)

    def wait(self, channel: str, why: str, count: int = 1) -> None:
        self.waiting.setdefault(channel, Counter())[why] += count


def not_switched_on(name: str) -> str:
    return f"the {name} channel is not switched on"


@dataclass
class _Release:
    """One release pass over the outbound lists."""

    r: redis.Redis
    svc: WorkerServices
    dry_run: bool
    out: Parking = field(default_factory=Parking)

    def channel(self, name: str, channel: Channel) -> None:
        key = keys.pending_outbound(name)
        walk(self.r, key, lambda raw: self.entry(name, key, raw, channel))

    def entry(self, name: str, key: str, raw: bytes | str, channel: Channel) -> int:
        """Queue one entry again if `channel` can send it now; the entries taken off the list (0 or 1)."""
        entry = read_entry(raw)
        if entry is None:
            self.out.wait(name, UNREADABLE)
            return 0
        why = channel.held_back(entry.reply, self.svc)
        if why:
            self.out.wait(name, why)
            return 0
        self.out.released[name] += 1
        if self.dry_run:
            return 0
        reply = entry.reply
        enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), resend_job_id(entry),
                     f"{reply.event} reply ({reply.channel}), parked earlier")  # fmt: skip
        return int(self.r.lrem(key, 1, text(raw)))  # the entry is JSON: its text is its bytes


def release_parked(
    r: redis.Redis, channels: Mapping[str, Channel], svc: WorkerServices, *, dry_run: bool = False
) -> Parking:
    """Put back on the replies queue every parked reply these channels can send now (with `dry_run`, only
    count them). Returns what went back and why the rest wait.

    A channel that is not switched on here can send none of its list, so the list is only counted: every worker
    passes here every 10 minutes, and a channel left off for a day can hold hundreds of thousands of replies. (An
    entry there that cannot be read is found by a worker with the channel.) A switched-on channel's list is read
    a page at a time (gateway/outbox/parked.py's `walk`)."""
    release = _Release(r, svc, dry_run)
    out = release.out
    for name in parked_channels(r):
        channel = channels.get(name)
        if channel is not None:
            release.channel(name, channel)
        elif waiting := int(r.llen(keys.pending_outbound(name))):
            out.wait(name, not_switched_on(name), waiting)
    if out.released and not dry_run:
        log.info("parked replies queued again", extra={"count": sum(out.released.values())})
    return out
