"""An answered survey told to the ticket system: an internal note on the ticket with the rating, then the comment;
and a low rating (1 or 2) handed to the job that does what the rules say (workers/surveys.py `act_on_low_rating`).

The note is a job of its own (`workers.jobs.note`, one per survey and part, by job id), so a ticket system that is
down never loses an answer nor delays the family's page or text, and a retried step never notes twice.
"""

from __future__ import annotations

from typing import Literal

import redis

from gateway.settings import Settings
from gateway.store.queues import LOW_RATING_FUNC, NOTE_FUNC, REPLIES_QUEUE, enqueue_once
from gateway.surveys import record

LOW = 2  # a rating of 1 or 2 is low: the rules' `low_rating` action applies
VIA = {"link": "a link in the survey email", "sms": "text message", "status_page": "the status page",
       "slack": "Slack"}  # fmt: skip


def note_text(survey: record.Survey, part: Literal["rating", "comment"]) -> str:
    if part == "comment":
        return f"Satisfaction survey comment from the family: {survey.fields.get('comment', '')}"
    via = VIA.get(survey.fields.get("via", ""), survey.fields.get("via", ""))
    return f"Satisfaction survey: the family rated this request {survey.rating} out of 5 (by {via})."


def note_answer(r: redis.Redis, settings: Settings, conv_id: str, part: Literal["rating", "comment"]) -> bool:
    """Queue the note of a stored rating or comment on the conversation's ticket, once."""
    survey = record.load(r, conv_id)
    if (
        survey is None
        or (part == "rating" and survey.rating is None)
        or (part == "comment" and not survey.fields.get("comment"))
    ):
        return False
    payload = {"conversation": conv_id, "key": f"survey-{part}-{conv_id}", "text": note_text(survey, part)}
    queued = enqueue_once(r, settings, REPLIES_QUEUE, NOTE_FUNC, payload, f"note-survey-{part}-{conv_id}",
                          f"note the survey's {part}")  # fmt: skip
    if part == "rating" and survey.rating is not None and survey.rating <= LOW:
        # What the rules say a low rating does (reopen, notify) is decided by the job, from the conversation.
        enqueue_once(r, settings, REPLIES_QUEUE, LOW_RATING_FUNC, {"conversation": conv_id},
                     f"survey-low-rating-{conv_id}", "act on a low survey rating")  # fmt: skip
    return queued
