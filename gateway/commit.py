"""The durable commit: the dedupe claim and the rq job, atomically, for a whole batch in one round trip.

Each message is one Lua script run (scripts execute atomically, and Redis writes a script's effects
to the AOF as one MULTI/EXEC): it checks the dedupe key and the deterministic job key, and only if
neither exists writes the claim, the request and conversation records, the thread keys, and the rq
job exactly as rq's own enqueue does (job hash, queue push, queue registry). A crash can never leave
a claim without its job, nor a job twice. A batch of scripts goes out as one pipeline: one round
trip and, with appendfsync always, one fsync for every concurrent message.

Why not WATCH/MULTI/EXEC with rq's enqueue: rq 3's `unique=True` runs its own script outside any
pipeline, and building each job through rq's Job object and redis-py's command packing cost more
CPU per message than the rest of the request path together (see bench/README.md). The constant
part of the job hash still comes from rq itself (JobTemplate), so its format follows rq's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job, JobStatus, Retry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.conversations import THREAD_KEY_TTL_S, normalize_address, reply_token_for
from gateway.models import Commitment
from gateway.settings import Settings

DELIVER_FUNC = "workers.jobs.deliver"

COMMIT_SCRIPT = """
-- KEYS: 1 dedupe, 2 job, 3 queue, 4 rq queue registry, 5 request, 6 conversation, 7 timeline,
--       8 participants, 9 reply token, 10 message id, 11 conversation refs
-- ARGV: 1 request id, 2 dedupe ttl, 3 thread ttl, 4 job id, 5 conversation id, 6 participant or '',
--       7 timeline entry, 8 '1' to claim the reply token, 9 the Message-ID to record, or '',
--       10 request field count, 11 conversation field count, 12 job field count, then the fields
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, ARGV[1]} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local i = 13
local n = tonumber(ARGV[10])
redis.call('HSET', KEYS[5], unpack(ARGV, i, i + n - 1))
i = i + n
n = tonumber(ARGV[11])
redis.call('HSET', KEYS[6], unpack(ARGV, i, i + n - 1))
i = i + n
n = tonumber(ARGV[12])
redis.call('HSET', KEYS[2], unpack(ARGV, i, i + n - 1))
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], KEYS[3])
redis.call('RPUSH', KEYS[7], ARGV[7])
if ARGV[6] ~= '' then redis.call('SADD', KEYS[8], ARGV[6]) end
if ARGV[8] == '1' then redis.call('SET', KEYS[9], ARGV[5], 'EX', ARGV[3], 'NX') end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[10], ARGV[5], 'EX', ARGV[3])
  redis.call('RPUSH', KEYS[11], ARGV[9])
  redis.call('LTRIM', KEYS[11], -20, -1)
end
return {1, ARGV[1]}
"""


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


def _rq_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JobTemplate:
    """The fields every deliver job shares, taken once from rq's own serialization of a sample job."""

    PER_JOB = ("data", "created_at", "enqueued_at", "description")

    def __init__(self, settings: Settings, queue: str) -> None:
        unused = redis.Redis()  # rq wants a connection; building a Job object does no I/O with it
        try:
            sample = Job.create(
                DELIVER_FUNC,
                args=[{}],
                id="template",
                connection=unused,
                serializer=JSONSerializer,
                retry=job_retry(settings),
                timeout=settings.jobs.timeout_s,
                description="template",
            )
        finally:
            unused.close()
        sample.origin = queue
        sample.enqueued_at = datetime.now(UTC)
        fields = {k: v for k, v in sample.to_dict().items() if k not in self.PER_JOB}
        fields["status"] = JobStatus.QUEUED.value
        self.flat: list[Any] = [x for kv in fields.items() for x in kv]

    def fields(self, payload_json: str, description: str, at: str) -> list[Any]:
        # rq stores JSONSerializer.dumps((func_name, instance, args, kwargs)); it reads uncompressed data as is.
        data = f'["{DELIVER_FUNC}", null, [{payload_json}], {{}}]'
        return [*self.flat, "data", data, "created_at", at, "enqueued_at", at, "description", description]


class Committer:
    """Commits batches with one pipelined round trip of atomic scripts."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.ttl = settings.redis.dedupe_ttl_days * 86400
        self.script = client.register_script(COMMIT_SCRIPT)
        self._templates: dict[str, JobTemplate] = {}
        self._queues_key = Queue.redis_queues_keys

    def _template(self, queue: str) -> JobTemplate:
        if queue not in self._templates:
            self._templates[queue] = JobTemplate(self.settings, queue)
        return self._templates[queue]

    async def commit(self, batch: Sequence[Commitment]) -> list[CommitResult]:
        """Commit every commitment in `batch` exactly once. Returns one result per input, in order."""
        first: dict[str, int] = {}
        for i, c in enumerate(batch):
            first.setdefault(c.fingerprint, i)
        unique = [batch[i] for i in first.values()]
        now = _rq_time(datetime.now(UTC))
        async with self.client.pipeline(transaction=False) as pipe:  # released even when Redis is gone
            for c in unique:
                ks, args = self._script_call(c, now)
                await self.script(keys=ks, args=args, client=pipe)
            answers = await pipe.execute()
        outcome = {
            c.fingerprint: CommitResult(_text(rid), duplicate=not int(created))
            for c, (created, rid) in zip(unique, answers, strict=True)
        }
        return [
            outcome[c.fingerprint]
            if first[c.fingerprint] == i
            else CommitResult(outcome[c.fingerprint].request_id, True)
            for i, c in enumerate(batch)
        ]

    def _script_call(self, c: Commitment, now: str) -> tuple[list[str], list[Any]]:
        m = c.message
        at = m.received_at.isoformat()
        queue = deliver_queue_name(c.route.backend)
        job_id = deliver_job_id(c.fingerprint)
        request = ["conversation", c.conversation, "channel", m.channel, "received_at", at,
                   "fingerprint", c.fingerprint, "evidence", c.evidence]  # fmt: skip
        new_conversation = c.conversation == m.id
        if new_conversation:
            # A new conversation: its hash cannot exist yet, so it is written whole.
            conv = ["created_at", at, "status", "received", "channel", m.channel, "account", m.account,
                    "first_request", m.id, "sender", m.sender, "language", m.language, "last_activity", at,
                    "subject", m.subject, "reply_token", reply_token_for(c.conversation)]  # fmt: skip
            if m.requester.email:
                conv += ["email", m.requester.email]
        else:
            conv = ["language", m.language, "last_activity", at]
        mid = m.provider_id if m.channel == "email" and m.provider_id else ""
        payload = c.model_dump_json()
        job = self._template(queue).fields(payload, f"deliver request {m.id}", now)
        timeline = json.dumps({"at": at, "event": "received", "request_id": m.id})
        ks = [
            keys.dedupe(c.fingerprint), Job.key_for(job_id), Queue.redis_queue_namespace_prefix + queue,
            self._queues_key, keys.request(m.id), keys.conversation(c.conversation), keys.timeline(c.conversation),
            keys.participants(c.conversation), keys.reply_token(reply_token_for(c.conversation)),
            keys.message_id(mid or "-"), keys.conversation_refs(c.conversation),
        ]  # fmt: skip
        args = [m.id, self.ttl, THREAD_KEY_TTL_S, job_id, c.conversation,
                normalize_address(m.sender) if m.sender else "", timeline, "1" if new_conversation else "0",
                mid, len(request), len(conv), len(job), *request, *conv, *job]  # fmt: skip
        return ks, args


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
