"""The rq contract between the processes: queue names, job function names, retries, and one way to enqueue.

The web process, the mail poller and the channels' webhooks write jobs that workers run, so the names
live here, where every side can read them without importing the workers. A job's function is named
by its dotted path (rq stores the string), and those paths are part of what an upgrade must keep:
`workers.queues.JOB_ALIASES` maps every name a release ever wrote to the function that runs it now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from gateway.models import StatusEvent
from gateway.settings import Settings

REPLIES_QUEUE = "replies"
EVENTS_QUEUE = "events"

DELIVER_FUNC = "workers.jobs.deliver"
SEND_REPLY_FUNC = "workers.jobs.send_reply"
STATUS_EVENT_FUNC = "workers.jobs.handle_status_event"
FANOUT_FUNC = "workers.jobs.fan_out"
TELL_INCIDENT_LINK_FUNC = "workers.jobs.tell_incident_link"
FETCH_MEDIA_FUNC = "workers.jobs.fetch_media"
NOTE_UNDELIVERED_FUNC = "workers.jobs.note_undelivered"
NOTE_FUNC = "workers.jobs.note"
ANSWER_STATUS_FUNC = "workers.jobs.answer_status"
LOOK_UP_STATUS_FUNC = "workers.jobs.look_up_status"
SEND_SURVEY_FUNC = "workers.jobs.send_survey"
LOW_RATING_FUNC = "workers.jobs.low_rating"
MAIL_SUPERVISORS_FUNC = "workers.jobs.mail_supervisors"


def deliver_queue_name(backend: str) -> str:
    return f"deliver-{backend}"


def deliver_job_id(fingerprint: str) -> str:
    return f"deliver-{fingerprint}"


def job_retry(settings: Settings) -> Retry:
    intervals = settings.jobs.retry_intervals
    return Retry(max=len(intervals), interval=intervals)


def enqueue_once(
    connection: redis.Redis,
    settings: Settings,
    queue: str,
    func: str,
    payload: dict[str, Any],
    job_id: str,
    description: str,
    at: datetime | None = None,
) -> bool:
    """Enqueue unless a job with this id already exists (a retried parent job must not double it).

    With `at`, the job waits in rq's scheduler until then (a text held for the end of quiet hours).
    Returns False when the job existed already.
    """
    q = Queue(queue, connection=connection, serializer=JSONSerializer)
    options: dict[str, Any] = {
        "job_id": job_id,
        "retry": job_retry(settings),
        "job_timeout": settings.jobs.timeout_s,
        "failure_ttl": settings.jobs.failure_ttl_days * 86400,
        "result_ttl": settings.jobs.result_ttl_s,
        "description": description,
    }
    if at is not None:
        # enqueue_at has no unique flag: the existence check is ours (a job id is only ever reused for one job).
        if connection.exists(q.job_class.key_for(job_id)):
            return False
        q.enqueue_at(at, func, payload, **options)
        return True
    try:
        q.enqueue(func, payload, unique=True, **options)
    except DuplicateJobError:
        return False
    return True


def publish_status_events(connection: redis.Redis, settings: Settings, events: Iterable[StatusEvent]) -> None:
    """Queue a ticket system's status changes for the events worker, each once (its job id is the event's id)."""
    for ev in events:
        eid = ev.event_id()
        enqueue_once(connection, settings, EVENTS_QUEUE, STATUS_EVENT_FUNC, ev.model_dump(mode="json"), f"event-{eid}",
                     f"status event {eid}")  # fmt: skip
