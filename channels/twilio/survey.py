"""A survey answered by text: "Reply 1-5", then an optional comment, before any ticket or thread is considered.

While a survey sent to a phone is open (`ig:survey:sms:<phone digest>:<number>`, kept until the survey expires), the
family's texts to that district number are read here first, ahead of sender continuity: a rating is stored (once),
a number that is no rating gets "reply 1 to 5", a second rating gets "we already have it", and the first other text
after the rating is attached to it as the comment. Every other text is a request as ever. STOP, HELP, STATUS and NEW
keep their meaning: they are handled before this step, or (NEW) skip it.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.base import WorkerServices
from gateway import keys
from gateway.models import Commitment, Reply, utcnow
from gateway.outbox.consent import phone_digest
from gateway.outbox.templating import render_reply
from gateway.store.queues import REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once
from gateway.store.redis_conn import text
from gateway.surveys import record
from gateway.surveys.notes import note_answer
from gateway.surveys.ratings import read_rating

log = logging.getLogger("intake.sms.survey")


def open_rating_window(reply: Reply, expires_at: float, svc: WorkerServices) -> None:
    """From now until the survey expires, the family's texts to the conversation's number answer it first."""
    account = text(svc.redis.hget(keys.conversation(reply.conversation), "account") or "")
    window = keys.survey_by_phone(phone_digest(reply.recipient), account)
    svc.redis.set(window, reply.conversation, exat=int(expires_at))


def answer_by_text(c: Commitment, svc: WorkerServices) -> dict[str, Any] | None:
    """The outcome when the text answered an open survey; None when it is a request like any other."""
    m = c.message
    if m.thread_hints.force_new or m.attachments:
        return None
    r = svc.redis
    window = keys.survey_by_phone(phone_digest(m.sender), m.account)
    conv_raw = r.get(window)
    survey = record.load(r, text(conv_raw)) if conv_raw is not None else None
    if survey is None:
        return None
    words = (m.full_text or m.text).strip()
    reading = read_rating(words)
    now = utcnow()
    if survey.state == "sent":
        if reading.rating is not None:
            outcome = record.answer(r, survey.conversation, reading.rating, "sms", now)
            if outcome == "stored":
                log.info("survey answered", extra={"conversation": survey.conversation, "via": "sms",
                                                   "rating": reading.rating})  # fmt: skip
                note_answer(r, svc.settings, survey.conversation, "rating")
                return _tell(c, svc, survey, "rated")
            return None  # expired since: the text is a request
        return _tell(c, svc, survey, "out_of_range") if reading.out_of_range else None
    if survey.state != "answered":
        return None
    if reading.rating is not None or reading.out_of_range:
        return _tell(c, svc, survey, "already_answered")
    limit = svc.settings.surveys.comment_max_chars
    if len(words) > limit:
        return _tell(c, svc, survey, "comment_too_long", chars=limit)
    if record.add_comment(r, survey.conversation, words, now) != "stored":
        return None
    r.delete(window)  # the survey is complete: the family's next text is a request again
    log.info("survey commented", extra={"conversation": survey.conversation, "via": "sms"})
    note_answer(r, svc.settings, survey.conversation, "comment")
    return _tell(c, svc, survey, "commented")


def _tell(c: Commitment, svc: WorkerServices, survey: record.Survey, answer: str, **values: Any) -> dict[str, Any]:
    """Answer the family's text in the survey's language, at once (never held for quiet hours: they just wrote)."""
    m = c.message
    language = survey.language or m.language
    rendered = render_reply(svc.templates, "csat_answer", "sms", language, svc.settings.default_language,
                            {"answer": answer, "ticket": survey.fields.get("ticket", ""), **values})  # fmt: skip
    reply = Reply(conversation=survey.conversation, channel="sms", recipient=m.sender, event="csat_answer",
                  language=rendered.language, text=rendered.text)  # fmt: skip
    enqueue_once(svc.redis, svc.settings, REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"),
                 f"reply-survey-{m.id}-sms", "csat_answer")  # fmt: skip
    return {"survey": answer}
