"""What the social channels (Messenger, Instagram, WhatsApp, X) share with texts: STATUS and NEW.

The words are the district's, the same as for texts (`channels.twilio.status_words`, `new_words`): a
family that writes STATUS (ESTADO, 状态...) is told its open requests in the same thread, without a
ticket; a message that starts with NEW opens a new request instead of continuing the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Handled, WorkerServices
from gateway.models import Commitment
from gateway.settings import Settings
from gateway.store.queues import ANSWER_STATUS_FUNC, REPLIES_QUEUE, enqueue_once
from normalizers.twilio_sms import Keywords, keyword_language


def chat_keywords(settings: Settings) -> Keywords:
    conf = settings.channels.twilio
    return Keywords(opt_out=(), opt_in=(), help=(), status=tuple(conf.status_words), new=tuple(conf.new_words))


@dataclass(frozen=True, slots=True)
class Classified:
    text: str  # what the family wrote, less a leading NEW
    force_new: bool
    status_request: bool
    language: str | None  # the keyword's own language (ESTADO is Spanish), when it was one


def classify(words: Keywords, body: str) -> Classified:
    kind = words.classify(body)
    rest = words.split_new(body)
    language = keyword_language(body) if kind else None
    if rest is not None:
        return Classified(rest, True, False, language)
    return Classified(body, kind == "new", kind == "status", language)


def answer_status(c: Commitment, svc: WorkerServices) -> Handled:
    """The sender's open requests (on every channel that knows them by this address), answered in their thread
    by a job that first asks each ticket system for the status now (workers/status_lookup.py)."""
    queue_status_answer(c, svc)
    return Handled({"keyword": "status"})


def queue_status_answer(c: Commitment, svc: WorkerServices) -> None:
    m = c.message
    enqueue_once(svc.redis, svc.settings, REPLIES_QUEUE, ANSWER_STATUS_FUNC, {"commitment": c.model_dump(mode="json")},
                 f"status-answer-{m.id}-{m.channel}", "STATUS answer")  # fmt: skip
