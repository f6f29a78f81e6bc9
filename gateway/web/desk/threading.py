"""Why a ticket's messages are together: what threading recorded in Redis for its conversation (gateway/keys.py
`timeline`, and each request's `evidence` and channel), read for the ticket page, and for the conversations of the
tickets merged into it (their messages are the ticket's now). Redis keeps these as long as the conversation's
records (retention); a page that cannot read them says so instead."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import keys
from gateway.store.redis_conn import text

log = logging.getLogger("intake.web.desk")
MAX_ENTRIES = 200


@dataclass(frozen=True)
class Threaded:
    at: str
    channel: str
    evidence: str


@dataclass
class Threading:
    reachable: bool = True
    messages: list[Threaded] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # as the worker recorded them when it made the ticket


BACKEND = "builtin"  # the desk works the built-in store's tickets (workers/backends/builtin.py)


async def read_threading(client: aioredis.Redis, conversation: str, ticket: int) -> Threading:
    try:
        merged = sorted(text(c) for c in await client.smembers(keys.ticket_merged(BACKEND, str(ticket))))
        async with client.pipeline(transaction=False) as pipe:
            for conv in (conversation, *(c for c in merged if c != conversation)):
                pipe.lrange(keys.timeline(conv), -MAX_ENTRIES, -1)
            timelines = await pipe.execute()
        found = Threading()
        received: list[tuple[str, str]] = []
        for item in (i for raw in timelines for i in raw):
            try:
                entry = json.loads(item)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("event") == "received" and entry.get("request_id"):
                received.append((str(entry.get("at", "")), str(entry["request_id"])))
            elif entry.get("event") == "ticket_created" and isinstance(entry.get("rules"), list) and not found.rules:
                found.rules = [str(r) for r in entry["rules"]]  # the ticket's own (its timeline is read first)
        if received:
            async with client.pipeline(transaction=False) as pipe:
                for _, request_id in received:
                    pipe.hmget(keys.request(request_id), ["channel", "evidence"])
                answers = await pipe.execute()
            for (at, _), (channel, evidence) in sorted(zip(received, answers, strict=True), key=lambda p: p[0][0]):
                found.messages.append(Threaded(at, text(channel or b""), text(evidence or b"new")))
        return found
    except (RedisError, OSError) as exc:
        log.warning("desk: threading records unreadable", extra={"error": type(exc).__name__})
        return Threading(reachable=False)
