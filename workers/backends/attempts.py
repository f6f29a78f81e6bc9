"""Our own note that we asked a system to create a ticket, so that a retry looks harder before creating another.

A worker killed between the system's 201 and our record of it leaves a ticket we never heard of. Zammad's and
Freshdesk's searches read an index that trails their writes (Freshdesk says a few minutes), so a retry's search
can miss the ticket its first try made; Zendesk forgets an Idempotency-Key after two hours. The note is written
to Redis (durable: appendfsync always) before each create call; a retry that finds it also reads the system's
own list of tickets changed since then, which is never behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from gateway import keys
from gateway.store.redis_conn import text

KEEP_S = 30 * 86400  # longer than any hold: a request held through a month's outage still finds its note
# A clock between us and the system may differ, and a ticket's time is stamped after our call went out.
SLACK = timedelta(minutes=5)


class Attempts:
    def __init__(self, r: redis.Redis, backend: str) -> None:
        self.r = r
        self.backend = backend

    def last(self, request_id: str) -> datetime | None:
        """When the previous create call for this request went out, if one did; minus a margin for the clocks."""
        raw = self.r.get(keys.backend_attempt(self.backend, request_id))
        if raw is None:
            return None
        return datetime.fromtimestamp(float(text(raw)), UTC) - SLACK

    def note(self, request_id: str) -> None:
        """Written before the call: if we die after it, the retry knows a ticket may exist."""
        self.r.set(keys.backend_attempt(self.backend, request_id), datetime.now(UTC).timestamp(), ex=KEEP_S)
