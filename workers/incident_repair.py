"""Checking an update's replies: who has been told, and putting back reply jobs a killed worker lost.

rq's worker takes a job off its queue (BLPOP over several queues) a moment before it records the
job as started; a worker killed in between leaves the job `queued` but on no queue and in no
registry, so neither rq's cleanup nor ours ever retries it. For an incident update that would be
a requester silently skipped, so `intake incident show` and `update` look for such replies and
queue them again (their job ids are the same, and `send_reply` records a delivery once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from channels import reply_targets
from gateway import keys
from gateway.incidents.store import IncidentStore
from gateway.store.redis_conn import text
from workers import context
from workers.queues import REPLIES_QUEUE

log = logging.getLogger("intake.incidents")

# A live worker holds a job off the queue for milliseconds (seconds on a starved machine) before it
# records it as started; one missing longer than this was dropped by a worker that died.
LOST_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class ReplyProgress:
    told: int  # replies recorded as delivered
    owed: int  # replies the update's fan-out has queued so far
    requeued: int  # lost replies put back on the queue by this check


def reply_job_id(incident_id: str, seq: int, conv: str, channel: str) -> str:
    return f"reply-incident-{incident_id}-{seq}-{conv}-{channel}"


def check_replies(store: IncidentStore, incident_id: str, seq: int, min_age_s: float = LOST_AFTER_S) -> ReplyProgress:
    """Count an update's delivered replies and requeue any that a killed worker dropped."""
    r = store.r
    done, _ = store.fanout_progress(incident_id, seq)
    convs = store.children(incident_id, 0, done)
    with r.pipeline(transaction=False) as pipe:
        for conv in convs:
            pipe.hgetall(keys.conversation(conv))
            pipe.smembers(keys.deliveries(conv))
        raw = pipe.execute()
    missing: list[str] = []
    told = owed = 0
    for conv, conv_hash, delivered in zip(convs, raw[0::2], raw[1::2], strict=True):
        fields = {text(k): text(v) for k, v in conv_hash.items()}
        seen = {text(d) for d in delivered}
        for channel, _ in reply_targets(fields):
            owed += 1
            job_id = reply_job_id(incident_id, seq, conv, channel)
            if job_id in seen:
                told += 1
            else:
                missing.append(job_id)
    return ReplyProgress(told, owed, requeue_lost(REPLIES_QUEUE, missing, min_age_s) if missing else 0)


def requeue_lost(queue_name: str, job_ids: list[str], min_age_s: float = LOST_AFTER_S) -> int:
    """Put back on `queue_name` each of these jobs that is `queued` but on no queue (dropped by a killed worker)."""
    connection = context.connection()
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    waiting = {text(j) for j in connection.lrange(queue.key, 0, -1)}
    requeued = 0
    for job_id in job_ids:
        if job_id in waiting:
            continue
        try:
            job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue  # not queued by the fan-out yet, or a finished job whose record expired after delivery
        enqueued = job.enqueued_at.replace(tzinfo=UTC) if job.enqueued_at else datetime.now(UTC)
        old_enough = (datetime.now(UTC) - enqueued).total_seconds() >= min_age_s
        if job.get_status(refresh=False) == JobStatus.QUEUED and old_enough:
            queue.enqueue_job(job)
            requeued += 1
    if requeued:
        log.warning("requeued jobs a killed worker had dropped", extra={"queue": queue_name, "count": requeued})
    return requeued
