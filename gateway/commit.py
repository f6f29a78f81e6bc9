"""The durable commit: the dedupe claim and the rq job in ONE Redis transaction, for a whole batch.

rq 3's `enqueue_job(unique=True)` runs its own Lua script on the connection and ignores the pipeline
it is given, so it cannot share a transaction with our dedupe claim. Instead we WATCH both the dedupe
key and the deterministic job key: if either appears between our read and EXEC, the transaction aborts
(WatchError) and the batch is re-read. That is the same uniqueness `unique=True` gives, inside the
same MULTI/EXEC as the claim, so a crash can never leave a claim without its job or a job twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue
from rq.job import Job, Retry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.conversations import THREAD_KEY_TTL_S, normalize_address, reply_token_for
from gateway.models import Commitment
from gateway.settings import Settings

DELIVER_FUNC = "workers.jobs.deliver"


@dataclass(frozen=True, slots=True)
class CommitResult:
    request_id: str
    duplicate: bool
    spooled: bool = False


def deliver_queue_name(backend: str) -> str:
    return f"deliver-{backend}"


def deliver_job_id(fingerprint: str) -> str:
    return f"deliver-{fingerprint}"


def job_retry(settings: Settings) -> Retry:
    intervals = settings.jobs.retry_intervals
    return Retry(max=len(intervals), interval=intervals)


class Committer:
    """Synchronous: runs on the commit thread, one batch per call."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.ttl = settings.redis.dedupe_ttl_days * 86400
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.client, serializer=JSONSerializer)
        return self._queues[name]

    def commit(self, batch: Sequence[Commitment]) -> list[CommitResult]:
        """Commit every commitment in `batch` exactly once. Returns one result per input, in order."""
        first: dict[str, int] = {}
        for i, c in enumerate(batch):
            first.setdefault(c.fingerprint, i)
        unique = [batch[i] for i in first.values()]
        dedupe_keys = [keys.dedupe(c.fingerprint) for c in unique]
        job_keys = [Job.key_for(deliver_job_id(c.fingerprint)) for c in unique]
        while True:
            with self.client.pipeline() as tx:
                try:
                    tx.watch(*dedupe_keys, *job_keys)  # type: ignore[no-untyped-call]
                    # Read through another pooled connection: one round trip for all keys, still covered
                    # by the WATCH that was set first.
                    reader = self.client.pipeline(transaction=False)
                    reader.mget(dedupe_keys)
                    for k in job_keys:
                        reader.exists(k)
                    claimed, *job_exists = reader.execute()
                    outcome: dict[str, CommitResult] = {}
                    tx.multi()
                    for c, held, has_job in zip(unique, claimed, job_exists, strict=True):
                        if held is not None:
                            outcome[c.fingerprint] = CommitResult(held.decode(), duplicate=True)
                        elif has_job:
                            outcome[c.fingerprint] = CommitResult(c.message.id, duplicate=True)
                        else:
                            self._stage(tx, c)
                            outcome[c.fingerprint] = CommitResult(c.message.id, duplicate=False)
                    tx.execute()
                    break
                except redis.WatchError:
                    continue  # a concurrent writer claimed one of these keys: read again
        results = []
        for i, c in enumerate(batch):
            r = outcome[c.fingerprint]
            results.append(r if first[c.fingerprint] == i else CommitResult(r.request_id, duplicate=True))
        return results

    def _stage(self, tx: redis.client.Pipeline, c: Commitment) -> None:
        m = c.message
        tx.set(keys.dedupe(c.fingerprint), m.id, ex=self.ttl)
        tx.hset(
            keys.request(m.id),
            mapping={
                "conversation": c.conversation,
                "channel": m.channel,
                "received_at": m.received_at.isoformat(),
                "fingerprint": c.fingerprint,
                "evidence": c.evidence,
            },
        )
        conv = keys.conversation(c.conversation)
        at = m.received_at.isoformat()
        if c.conversation == m.id:
            # A new conversation: its hash cannot exist yet, so one HSET writes it whole.
            fields: dict[Any, str] = {  # Any: redis-py types the keys as an invariant union
                "created_at": at,
                "status": "received",
                "channel": m.channel,
                "account": m.account,
                "first_request": m.id,
                "sender": m.sender,
                "language": m.language,
                "last_activity": at,
            }
            if m.requester.email:
                fields["email"] = m.requester.email
            token = reply_token_for(c.conversation)
            fields["reply_token"] = token
            tx.hset(conv, mapping=fields)
            tx.set(keys.reply_token(token), c.conversation, ex=THREAD_KEY_TTL_S, nx=True)
        else:
            tx.hset(conv, mapping={"language": m.language, "last_activity": at})
        if m.sender:
            tx.sadd(keys.participants(c.conversation), normalize_address(m.sender))
        if m.channel == "email" and m.provider_id:
            # Every Message-ID we see threads later replies, whichever one their client quotes.
            tx.set(keys.message_id(m.provider_id), c.conversation, ex=THREAD_KEY_TTL_S)
            tx.rpush(keys.conversation_refs(c.conversation), m.provider_id)
            tx.ltrim(keys.conversation_refs(c.conversation), -20, -1)
        tx.rpush(
            keys.timeline(c.conversation),
            json.dumps({"at": m.received_at.isoformat(), "event": "received", "request_id": m.id}),
        )
        job = Job.create(
            DELIVER_FUNC,
            args=[c.model_dump(mode="json")],
            id=deliver_job_id(c.fingerprint),
            connection=self.client,
            serializer=JSONSerializer,
            retry=job_retry(self.settings),
            timeout=self.settings.jobs.timeout_s,
            # rq logs the description: it must never carry the message itself.
            description=f"deliver request {m.id}",
        )
        self.queue(deliver_queue_name(c.route.backend)).enqueue_job(job, pipeline=tx)
