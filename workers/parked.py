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
from gateway.outbox.parked import Parked, parked_channels, read_entry
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

    def wait(self, channel: str, why: str) -> None:
        self.waiting.setdefault(channel, Counter())[why] += 1


def why_waiting(p: Parked, name: str, channel: Channel | None, svc: WorkerServices) -> str:
    """ "" when `channel` can send the reply now."""
    if channel is None:
        return f"the {name} channel is not switched on"
    return channel.held_back(p.reply, svc)


def release_parked(
    r: redis.Redis, channels: Mapping[str, Channel], svc: WorkerServices, *, dry_run: bool = False
) -> Parking:
    """Put back on the replies queue every parked reply these channels can send now (with `dry_run`, only
    count them). Returns what went back and why the rest wait."""
    out = Parking()
    for name in parked_channels(r):
        key = keys.pending_outbound(name)
        for raw in r.lrange(key, 0, -1):
            entry = read_entry(raw)
            if entry is None:
                out.wait(name, UNREADABLE)
                continue
            why = why_waiting(entry, name, channels.get(name), svc)
            if why:
                out.wait(name, why)
                continue
            if not dry_run:
                reply = entry.reply
                enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), resend_job_id(entry),
                             f"{reply.event} reply ({reply.channel}), parked earlier")  # fmt: skip
                r.lrem(key, 1, text(raw))  # the entry is JSON: its text is its bytes
            out.released[name] += 1
    if out.released and not dry_run:
        log.info("parked replies queued again", extra={"count": sum(out.released.values())})
    return out
