"""The workers' queues: names, the job class that knows every job name a release ever wrote, and enqueueing.

A leaf: it imports no other job module, so every job library can use it without a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.utils import import_attribute

from gateway.store import queues as names
from gateway.store.queues import EVENTS_QUEUE, REPLIES_QUEUE, deliver_queue_name
from workers import context

__all__ = [
    "EVENTS_QUEUE",
    "JOB_ALIASES",
    "REPLIES_QUEUE",
    "GatewayJob",
    "deliver_queue_name",
    "enqueue_once",
    "spare_tries_when_abandoned",
]

# Dotted job names written by earlier releases -> the entry point that runs them now. A job queued before an
# upgrade (a held text, a fan-out chunk, a retry waiting its turn) names its function by the old path.
JOB_ALIASES: dict[str, str] = {
    "workers.incident_jobs.fan_out": names.FANOUT_FUNC,
    "workers.sms_media.fetch_media": names.FETCH_MEDIA_FUNC,
    "workers.sms_inbound.note_undelivered": names.NOTE_UNDELIVERED_FUNC,
}


class GatewayJob(Job):
    """rq's Job, resolving a renamed job function through JOB_ALIASES."""

    @property
    def func(self) -> Any:
        name = self.func_name
        if name in JOB_ALIASES and not self.instance:
            return import_attribute(JOB_ALIASES[name])
        return super().func


def enqueue_once(
    queue: str, func: str, payload: dict[str, Any], job_id: str, description: str, at: datetime | None = None
) -> bool:
    """Enqueue on this worker's Redis unless a job with this id exists (a retried parent must not double it)."""
    return names.enqueue_once(context.connection(), context.settings(), queue, func, payload, job_id, description, at)


def spare_tries_when_abandoned(job: Job, exc_type: type[BaseException], exc_value: object, tb: object) -> bool:
    """An rq exception handler: a job abandoned by its killed worker (rq calls the handlers with AbandonedJobError
    just before it retries the job, spending one of its tries, or dead-letters it) keeps its tries, up to
    `jobs.abandonments` times. Without it a few deploys or kills under the same job dead-lettered a message that
    never failed (the chaos bench lost one in 10,000 so: six kills under it). Returns True: the next handler runs."""
    if not (isinstance(exc_type, type) and issubclass(exc_type, AbandonedJobError)):
        return True
    abandoned = int(job.meta.get("abandoned", 0)) + 1
    job.meta["abandoned"] = abandoned
    if abandoned <= context.settings().jobs.abandonments:
        # The retry rq makes next takes this back; a job made without tries (None) gets the one it needs.
        job.retries_left = (job.retries_left or 0) + 1
    job.save_meta()  # type: ignore[no-untyped-call]
    return True
