"""A merge, in Redis too: the family's conversations follow their ticket into the one it was merged into.

The store moves the comments, files and time and closes the merged ticket (gateway/tickets/desk.py). A
conversation finds its ticket by its `ticket_ref` (workers/deliver.py), so each conversation that pointed at the
merged ticket (its own, and those of tickets merged into it before) is pointed at the ticket it joined: the
family's next message in that thread is a comment there, not on the closed ticket. Its response clocks stop (the
ticket they timed is closed; the one it joined keeps its own), and from now on it shows the joined ticket's status:
the events worker records that ticket's status changes on every conversation merged into it, and tells the family
once, on the joined ticket's own conversation (workers/status_events.py).

All of it is done under the locks of the conversations that move, so a message being delivered meanwhile lands
either before the merge (and its comment moves with the others) or after it (on the joined ticket).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import redis

from gateway import keys
from gateway.models import utcnow
from gateway.store.redis_conn import text
from gateway.tickets import Ticket
from workers.locks import conversation_lock
from workers.routing_stage import stop_clocks


def merged_into(r: redis.Redis, backend: str, ref: str) -> list[str]:
    """The conversations of the tickets merged into this one, which follow its status."""
    return sorted(text(c) for c in r.smembers(keys.ticket_merged(backend, ref)))


@contextmanager
def _locked(r: redis.Redis, conversations: list[str]) -> Iterator[None]:
    with ExitStack() as stack:
        for conv in sorted(set(conversations)):  # always in one order: two merges never wait on each other
            stack.enter_context(conversation_lock(r, conv))
        yield


def merge_conversations(r: redis.Redis, backend: str, source: Ticket, target: Ticket,
                        merge_in_store: Callable[[], None]) -> list[str]:  # fmt: skip
    """Run the store's merge, then point the source's conversations at the target. Returns those moved."""
    moving = [source.conversation, *merged_into(r, backend, str(source.id))]
    moving = [c for c in dict.fromkeys(moving) if c != target.conversation]
    with _locked(r, moving):
        merge_in_store()
        moved = [c for c in moving if r.hget(keys.conversation(c), "ticket_ref") is not None]
        for conv in moved:  # a conversation the gateway never delivered (an imported ticket) has nothing to move
            stop_clocks(r, conv, resolved=True)
            entry = {"at": utcnow().isoformat(), "event": "merged", "ticket": str(source.id), "into": str(target.id)}
            with r.pipeline() as pipe:
                pipe.hset(keys.conversation(conv), mapping={"ticket_ref": str(target.id), "status": target.status})
                pipe.rpush(keys.timeline(conv), json.dumps(entry))
                pipe.sadd(keys.ticket_merged(backend, str(target.id)), conv)
                pipe.execute()
        r.delete(keys.ticket_merged(backend, str(source.id)))
    return moved
