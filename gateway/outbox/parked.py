"""Replies parked on a channel's outbound list (keys.pending_outbound), written and read in one place.

A reply is parked when nothing can send it yet: its channel is not switched on in the worker that ran
it, or the channel cannot send this one (email with no mailbox that sends, Slack for a team with no
workspace). workers/parked.py puts it back on the replies queue once a worker can send it.

Each entry is JSON: `{"key": the delivery key of the job that parked it, "reply": the reply}`. The key
keeps two replies with the same words (two identical status updates) apart. An entry parked by an
earlier release is the bare reply; its key is made from its bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import redis
from pydantic import ValidationError

from gateway import keys
from gateway.models import Reply
from gateway.store.redis_conn import text

PAGE = 500  # entries read at a time: a list can hold a day of a busy channel's replies


@dataclass(frozen=True, slots=True)
class Parked:
    raw: bytes | str  # the entry exactly as stored, to remove it
    key: str
    reply: Reply


def park(r: redis.Redis, reply: Reply, delivery_key: str) -> None:
    """Keep `reply` on its channel's outbound list (`r` may be a pipeline)."""
    entry = {"key": delivery_key, "reply": reply.model_dump(mode="json")}
    r.rpush(keys.pending_outbound(reply.channel), json.dumps(entry, ensure_ascii=False))


def read_entry(raw: bytes | str) -> Parked | None:
    """The entry, or None when it cannot be read (it stays on the list for an operator)."""
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and set(data) == {"key", "reply"}:
            return Parked(raw, str(data["key"]), Reply.model_validate(data["reply"]))
        # Parked by an earlier release: the reply alone.
        return Parked(raw, "parked-" + hashlib.sha256(text(raw).encode()).hexdigest()[:32], Reply.model_validate(data))
    except (ValueError, ValidationError):
        return None


def parked_channels(r: redis.Redis) -> list[str]:
    """Every channel with replies waiting, this release's channels or not."""
    prefix = keys.pending_outbound("")
    return sorted(text(k)[len(prefix) :] for k in r.scan_iter(match=keys.pending_outbound("*"), count=100))


def walk(r: redis.Redis, key: str, visit: Callable[[bytes | str], int]) -> None:
    """Call `visit` on each entry of the outbound list `key`, a page at a time. `visit` returns how many entries
    it took off the list (0 or 1), by which the next page's start moves back; entries parked meanwhile join the
    list's end and are visited too."""
    start = 0
    while page := r.lrange(key, start, start + PAGE - 1):
        start += len(page)
        for raw in page:
            start -= visit(raw)
