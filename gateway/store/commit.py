"""The durable commit: the dedupe claim and the rq job, atomically, for a whole batch in one round trip.

A batch is one Lua script run (scripts execute atomically, and Redis writes a script's effects to
the AOF as one MULTI/EXEC): for each message it checks the dedupe key and the deterministic job key,
and only if neither exists writes the claim, the request and conversation records, the thread keys,
and the rq job exactly as rq's own enqueue does (job hash, queue push, queue registry). A crash can
never leave a claim without its job, nor a job twice. The batch travels as one JSON argument: one
round trip, one command to pack and, with appendfsync always, one fsync for every concurrent message.

Why not WATCH/MULTI/EXEC with rq's enqueue: rq 3's `unique=True` runs its own script outside any
pipeline, and building each job through rq's Job object and redis-py's command packing cost more
CPU per message than the rest of the request path together (see bench/README.md). The constant
part of the job hash still comes from rq itself (JobTemplate), so its format follows rq's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.intake.conversations import (
    THREAD_KEY_TTL_S,
    continues_by_sender,
    continuity_key,
    normalize_address,
    reply_token_for,
)
from gateway.models import Commitment, InboundMessage
from gateway.outbox.consent import phone_digest
from gateway.settings import Settings
from gateway.store.queues import DELIVER_FUNC, deliver_job_id, deliver_queue_name, job_retry
from gateway.store.replica_wait import ReplicaWait

# rq's key layout, taken from rq so that it follows rq's.
JOB_KEY_PREFIX = Job.redis_job_namespace_prefix
QUEUE_KEY_PREFIX = Queue.redis_queue_namespace_prefix

COMMIT_SCRIPT = """
-- ARGV[1]: the batch, a JSON array of messages (everything but the jobs' data); ARGV[2]: rq's queue
-- registry key; ARGV[3]: dedupe TTL; ARGV[4]: thread-key TTL; ARGV[5]: JSON {queue key: the job fields
-- every job of that queue shares}; ARGV[6]: the jobs' created_at and enqueued_at; ARGV[7], ARGV[8]: the TTLs
-- of the dashboard's minute and day counts; ARGV[8 + i]: message i's job data, as rq stores it.
-- Each redis.call costs Redis more than anything else here (with the AOF on, every write is also
-- propagated), so a message takes as few calls as its keys allow: one EXISTS for both dedupe checks,
-- one HSET per hash with its fields as flat [field, value, ...] arrays. The job data travels as its own
-- argument so it is neither escaped into the batch's JSON nor decoded from it.
-- Keys are named in the batch rather than in KEYS: rq needs a single Redis (no Cluster), and a batch
-- of any size stays one command.
-- The dashboard's counts of what arrived (per minute and per day, by channel and queue) are added up here
-- and written once per batch and bucket, so they cost a batch of one two calls and a batch of 32 the same two.
local batch = cjson.decode(ARGV[1])
local common = cjson.decode(ARGV[5])
local queues = {}
local out = {}
local counts = {}
local function count(key, field)
  local c = counts[key]
  if not c then c = {}; counts[key] = c end
  c[field] = (c[field] or 0) + 1
end
for i, m in ipairs(batch) do
  -- An email's Message-ID is remembered as long as threads are (ARGV[4]), past the dedupe window: mail
  -- restored to the inbox or an archive imported again months later is still a duplicate.
  local seen
  if m.message_id ~= '' then
    seen = redis.call('EXISTS', m.dedupe, m.job_key, m.message_id_key)
  else
    seen = redis.call('EXISTS', m.dedupe, m.job_key)
  end
  if seen > 0 then
    out[i] = '0' .. (redis.call('GET', m.dedupe) or m.request_id)
  else
    redis.call('SET', m.dedupe, m.request_id, 'EX', ARGV[3])
    redis.call('HSET', m.request_key, unpack(m.request))
    redis.call('HSET', m.conv_key, unpack(m.conv))
    redis.call('HSET', m.job_key, 'data', ARGV[8 + i], 'created_at', ARGV[6], 'enqueued_at', ARGV[6],
      'description', m.description, unpack(common[m.queue_key]))
    redis.call('RPUSH', m.queue_key, m.job_id)
    queues[m.queue_key] = true
    redis.call('RPUSH', m.timeline_key, m.timeline)
    if #m.participants > 0 then redis.call('SADD', m.participants_key, unpack(m.participants)) end
    if m.reply_token_key ~= '' then redis.call('SET', m.reply_token_key, m.conversation, 'EX', ARGV[4], 'NX') end
    -- A provider thread (Slack team:channel + root ts) belongs to the first conversation that used it.
    if m.thread_key ~= '' then redis.call('SET', m.thread_key, m.conversation, 'EX', ARGV[4], 'NX') end
    if m.continuity_key ~= '' then
      redis.call('SET', m.continuity_key, m.conversation, 'EX', ARGV[4])
      redis.call('ZADD', m.sender_convs_key, m.opened, m.conversation)
    end
    if m.message_id ~= '' then
      redis.call('SET', m.message_id_key, m.conversation, 'EX', ARGV[4])
      redis.call('RPUSH', m.refs_key, m.message_id)
      redis.call('LTRIM', m.refs_key, -20, -1)
    end
    count(m.minute_key, m.count_field)
    count(m.day_key, m.count_field)
    out[i] = '1' .. m.request_id
  end
end
for q in pairs(queues) do redis.call('SADD', ARGV[2], q) end
for key, fields in pairs(counts) do
  local ttl = string.find(key, ':m:', 1, true) and ARGV[7] or ARGV[8]
  for field, n in pairs(fields) do
    -- A field seen for the first time may be the key's first: only then does it need its expiry.
    if redis.call('HINCRBY', key, field, n) == n then redis.call('EXPIRE', key, ttl) end
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class CommitResult:
    request_id: str
    duplicate: bool
    spooled: bool = False


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
                failure_ttl=settings.jobs.failure_ttl_days * 86400,
                result_ttl=settings.jobs.result_ttl_s,
                description="template",
            )
        finally:
            unused.close()
        sample.origin = queue
        sample.enqueued_at = datetime.now(UTC)
        fields = {k: v for k, v in sample.to_dict().items() if k not in self.PER_JOB}
        fields["status"] = JobStatus.QUEUED.value
        self.common: dict[str, str] = {k: v if isinstance(v, str) else str(v) for k, v in fields.items()}
        self.flat = flat(self.common)

    @staticmethod
    def data(payload_json: str) -> str:
        # rq stores JSONSerializer.dumps((func_name, instance, args, kwargs)); it reads uncompressed data as is.
        return f'["{DELIVER_FUNC}", null, [{payload_json}], {{}}]'


def flat(fields: dict[str, str]) -> list[str]:
    """{field: value} as the [field, value, ...] list the commit script passes to HSET."""
    return [item for pair in fields.items() for item in pair]


class Committer:
    """Commits batches with one pipelined round trip of atomic scripts."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.ttl = settings.redis.dedupe_ttl_days * 86400
        self.script = client.register_script(COMMIT_SCRIPT)
        self.replicated = ReplicaWait(
            client, self.script, settings.redis.replicas_to_wait, settings.redis.wait_timeout_ms
        )
        self._templates: dict[str, JobTemplate] = {}
        self._queues_key = Queue.redis_queues_keys
        self.zone = settings.zone
        self._day: tuple[int, str] = (-1, "")

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
        messages = [self._entry(c) for c in unique]
        common = {m["queue_key"]: self._template(m["queue"]).flat for m in messages}
        # Nulls left out (a sixth of the job data): the worker's model_validate puts them back, because every
        # nullable field defaults to None (tests/test_job_payload.py holds the models to that). Leaving out
        # every default would halve the data, but pydantic's comparisons cost more CPU than Redis saves.
        data = [JobTemplate.data(c.model_dump_json(exclude_none=True)) for c in unique]
        # With replicas to wait for, the script's answer comes only once they hold its writes (replica_wait.py).
        answers = await self.replicated.run(
            [
                orjson.dumps(messages),
                self._queues_key,
                self.ttl,
                THREAD_KEY_TTL_S,
                orjson.dumps(common),
                now,
                keys.INCOMING_MINUTE_TTL_S,
                keys.INCOMING_DAY_TTL_S,
                *data,
            ]
        )
        outcome = {}
        for c, answer in zip(unique, answers, strict=True):
            text = _text(answer)
            outcome[c.fingerprint] = CommitResult(text[1:], duplicate=text[0] == "0")
        return [
            outcome[c.fingerprint]
            if first[c.fingerprint] == i
            else CommitResult(outcome[c.fingerprint].request_id, True)
            for i, c in enumerate(batch)
        ]

    async def known(self, batch: Sequence[Commitment]) -> dict[str, str]:
        """The request id Redis holds for each message of `batch` it has already taken, by fingerprint."""
        found = await self.client.mget([keys.dedupe(c.fingerprint) for c in batch])
        return {c.fingerprint: _text(v) for c, v in zip(batch, found, strict=True) if v is not None}

    def _entry(self, c: Commitment) -> dict[str, Any]:
        m = c.message
        at = m.received_at.isoformat()
        conversation = c.conversation
        queue = deliver_queue_name(c.route.backend)
        job_id = deliver_job_id(c.fingerprint)
        new_conversation = conversation == m.id
        requester = m.requester
        hints = m.thread_hints
        if new_conversation:
            # A new conversation: its hash cannot exist yet, so it is written whole.
            conv = ["created_at", at, "status", "received", "channel", m.channel, "account", m.account,
                    "first_request", m.id, "sender", m.sender, "language", requester.locale, "last_activity", at,
                    "subject", m.subject, "reply_token", reply_token_for(conversation)]  # fmt: skip
            if requester.email:
                conv += ("email", requester.email)
            if m.category:
                conv += ("category", m.category)
            if hints.continuity_scope:
                conv += ("continuity_scope", hints.continuity_scope)  # retention finds the continuity key by it
            if hints.conversation_id:
                # Where replies go back: the provider's conversation, and the thread root when there is one.
                conv += ("provider_conversation", hints.conversation_id, "provider_thread", hints.thread_ts or "")
        else:
            conv = ["language", requester.locale, "last_activity", at]  # the reply language
        mid = m.provider_id if m.channel == "email" and m.provider_id else ""
        thread_key = (
            keys.provider_thread(m.channel, hints.conversation_id, hints.thread_ts)
            if hints.conversation_id and hints.thread_ts
            else ""
        )
        by_sender = continues_by_sender(m)
        minute = int(m.received_at.timestamp()) // 60
        request = ["conversation", conversation, "channel", m.channel, "received_at", at,
                   "fingerprint", c.fingerprint, "evidence", c.evidence]  # fmt: skip
        return {
            "request_id": m.id,
            "conversation": conversation,
            "dedupe": keys.dedupe(c.fingerprint),
            "job_id": job_id,
            "job_key": JOB_KEY_PREFIX + job_id,
            "description": f"deliver request {m.id}",
            "queue": queue,
            "queue_key": QUEUE_KEY_PREFIX + queue,
            "request_key": keys.request(m.id),
            "request": request,
            "conv_key": keys.conversation(conversation),
            "conv": conv,
            "timeline_key": keys.timeline(conversation),
            "timeline": orjson.dumps({"at": at, "event": "received", "request_id": m.id}).decode(),
            "participants_key": keys.participants(conversation),
            "participants": participants(m, new_conversation),
            "reply_token_key": keys.reply_token(reply_token_for(conversation)) if new_conversation else "",
            "message_id": mid,
            "message_id_key": keys.message_id(mid) if mid else "",
            "refs_key": keys.conversation_refs(conversation),
            "thread_key": thread_key,
            "continuity_key": continuity_key(m) if by_sender else "",
            "sender_convs_key": keys.sms_sender_conversations(phone_digest(m.sender)) if by_sender else "",
            "opened": m.received_at.timestamp(),
            "minute_key": keys.incoming_minute(minute),
            "day_key": self._day_key(minute),
            "count_field": f"{m.channel}|{c.route.queue}",
        }

    def _day_key(self, minute: int) -> str:
        """The day count's key for a minute: the district's local date, worked out once per minute."""
        if self._day[0] != minute:
            day = datetime.fromtimestamp(minute * 60, self.zone).date().isoformat()
            self._day = (minute, keys.incoming_day(day))
        return self._day[1]


def participants(m: InboundMessage, new_conversation: bool) -> list[str]:
    """Who this message adds to its conversation's participants: its sender (a conversation's first sender is
    already its hash's `sender`, which is_participant reads too) and whom an email was openly addressed to."""
    added = [normalize_address(m.sender)] if m.sender and not new_conversation else []
    added += (normalize_address(a) for a in m.thread_hints.copied)
    return added


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
