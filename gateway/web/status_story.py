"""The story a family's status page tells: every conversation joined in one request by a desk's merge, in time order.

A merge points the merged request's conversation at the ticket it joined (workers/desk_actions/merging.py), and
that ticket keeps the set of conversations merged into it. Either request's page reads the timelines of all of
them: the family's own messages and the district's public words from both threads, never the gateway's
bookkeeping (internal notes are never on a timeline at all). A status change the worker recorded on each joined
conversation (it tells the family once, but every page shows the joined ticket's status) is shown once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from gateway import keys
from gateway.store.redis_conn import text

# The timeline also holds internal bookkeeping; only these events are meant for the requester.
PUBLIC_EVENTS = frozenset(
    {"received", "ticket_created", "comment_added", "reply", "status_changed", "answer", "merged"}
)
MAX_ENTRIES = 200
_EARLIEST = datetime.min.replace(tzinfo=UTC)


async def joined(client: aioredis.Redis, conv_id: str, conv: dict[str, str]) -> list[str]:
    """The conversations told as one story with `conv_id`: its ticket's own first, then those merged into it.

    Only a conversation a merge recorded joins (the ticket's own, or one in its merged set), so a conversation
    that merely names the same ticket (no merge of ours did it) never shows another's timeline."""
    ref, backend = conv.get("ticket_ref"), conv.get("backend")
    if not ref or not backend:
        return [conv_id]
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(keys.ticket(backend, ref))
        pipe.smembers(keys.ticket_merged(backend, ref))
        own, merged = await pipe.execute()
    first = [text(own)] if own is not None else []
    group = first + sorted({text(m) for m in merged} - set(first))
    return group if conv_id in group and len(group) > 1 else [conv_id]


def _when(entry: dict[str, Any]) -> datetime:
    try:
        at = datetime.fromisoformat(str(entry.get("at", "")))
    except ValueError:
        return _EARLIEST
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _same_as(entry: dict[str, Any]) -> tuple[str, ...] | None:
    """What makes an entry the same one on several joined timelines (a status recorded on each, the merge itself)."""
    event = str(entry.get("event"))
    if entry.get("event_id"):
        # One event, recorded on each: as a change where the status was new, as an answer where it was not.
        return ("event_id", str(entry["event_id"]))
    if entry.get("incident") and entry.get("seq") is not None:
        return (event, str(entry["incident"]), str(entry["seq"]))
    if event == "merged":
        return (event, str(entry.get("ticket")), str(entry.get("into")))
    return None


def public_entries(raw: list[bytes | str]) -> list[dict[str, Any]]:
    out = []
    for item in raw:
        try:
            entry = json.loads(item)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") in PUBLIC_EVENTS:
            out.append(entry)
    return out


async def story(client: aioredis.Redis, conversations: list[str]) -> list[dict[str, Any]]:
    """The public entries of the conversations' timelines, each once (as the first conversation has it), oldest
    first: the newest MAX_ENTRIES."""
    async with client.pipeline(transaction=False) as pipe:
        for conv in conversations:
            # The newest entries, should a long conversation ever grow past what a phone screen can hold.
            pipe.lrange(keys.timeline(conv), -MAX_ENTRIES, -1)
        timelines = await pipe.execute()
    if len(timelines) == 1:
        return public_entries(timelines[0])
    seen: set[tuple[str, ...]] = set()
    entries = []
    for entry in (e for raw in timelines for e in public_entries(raw)):
        same = _same_as(entry)
        if same is not None:
            if same in seen:
                continue
            seen.add(same)
        entries.append(entry)
    entries.sort(key=_when)  # stable: entries of one moment keep their timeline's order
    return entries[-MAX_ENTRIES:]
