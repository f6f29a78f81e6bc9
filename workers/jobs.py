"""rq's entry points: every job function a queue names, each a thin call into the library that does the work.

The dotted names here are what Redis stores in each job (gateway/store/queues.py spells them), so
they stay put across releases; a name an earlier release wrote is mapped in workers.queues.JOB_ALIASES.
Every job is safe to run twice: ticket writes carry idempotency keys, replies are recorded once per
job id, and follow-up jobs have deterministic ids. A job that changed tickets or an incident tells the live
dashboard (a notice of its topic only, best effort: gateway/dashboard/changes.py).
"""

from __future__ import annotations

from typing import Any

from gateway.dashboard.changes import announce
from gateway.models import Commitment
from workers import context, incident_jobs, notes, replies, status_events, status_lookup, surveys
from workers import deliver as delivering
from workers.desk_actions import telling


def deliver(payload: dict[str, Any]) -> dict[str, Any] | Any:
    """A committed request: its ticket or comment, then its acknowledgement (workers/deliver.py).

    While its ticket system is out of order it returns rq's Retry: held for later, no try spent. The dashboard is
    told in the transaction that records the ticket or the comment.
    """
    return delivering.deliver(payload)


def send_reply(payload: dict[str, Any]) -> str:
    """One reply, sent by its channel's `deliver` (workers/replies.py)."""
    return replies.send_reply(payload)


def handle_status_event(payload: dict[str, Any]) -> str:
    """A ticket changed in its backend (workers/status_events.py)."""
    told = status_events.handle_status_event(payload)
    announce(context.connection(), "tickets")
    return told


def fan_out(payload: dict[str, Any]) -> dict[str, Any]:
    """One chunk of an incident update's requesters (workers/incident_jobs.py)."""
    progress = incident_jobs.fan_out(payload)
    announce(context.connection(), "incidents")
    return progress


def tell_incident_link(payload: dict[str, Any]) -> str:
    """A request linked to an incident at the desk, told once that it is part of it (workers/desk_actions)."""
    return telling.tell_incident_link(payload)


def fetch_media(payload: dict[str, Any]) -> dict[str, int]:
    """A message's provider-hosted files, fetched by its channel after the ticket exists."""
    c = Commitment.model_validate(payload["commitment"])
    channel = context.channel(c.message.channel)
    if channel is None:
        raise LookupError(f"the {c.message.channel} channel is not switched on in this worker")
    return channel.fetch_media(c, str(payload["ticket"]), context.services())


def note_undelivered(payload: dict[str, Any]) -> str:
    """A note on the ticket that the family did not get a reply (workers/notes.py)."""
    return notes.note_undelivered(payload)


def note(payload: dict[str, Any]) -> str:
    """An internal note a channel wrote for staff on the conversation's ticket (workers/notes.py)."""
    return notes.note(payload)


def answer_status(payload: dict[str, Any]) -> dict[str, int]:
    """STATUS on any channel: the open requests as their systems say now (workers/status_lookup.py)."""
    answered = status_lookup.answer_status(Commitment.model_validate(payload["commitment"]))
    announce(context.connection(), "tickets")
    return answered


def look_up_status(payload: dict[str, Any]) -> str:
    """The status page asked: one conversation's status as its system says now (workers/status_lookup.py)."""
    status = status_lookup.refresh_conversation(str(payload["conversation"]))
    announce(context.connection(), "tickets")
    return status


def send_survey(payload: dict[str, Any]) -> str:
    """A resolved conversation's satisfaction survey, after its delay (workers/surveys.py)."""
    return surveys.send_survey(payload)


def low_rating(payload: dict[str, Any]) -> str:
    """A survey rated 1 or 2: reopen or notify, as the request's routing rules say (workers/surveys.py)."""
    outcome = surveys.act_on_low_rating(payload)
    if outcome == "reopen":
        announce(context.connection(), "tickets")
    return outcome


def mail_supervisors(payload: dict[str, Any]) -> str:
    """A low rating under `low_rating: notify`: a mail to each of its supervisors (workers/surveys.py)."""
    return surveys.mail_supervisors(payload)
