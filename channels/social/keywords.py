"""What the social channels (Messenger, Instagram, WhatsApp, X) share with texts: STATUS and NEW.

The words are the district's, the same as for texts (`channels.twilio.status_words`, `new_words`): a
family that writes STATUS (ESTADO, 状态...) is told its open requests in the same thread, without a
ticket; a message that starts with NEW opens a new request instead of continuing the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Handled, WorkerServices
from gateway import keys
from gateway.intake.conversations import CLOSED_STATUSES
from gateway.models import Commitment, Reply
from gateway.outbox.consent import phone_digest
from gateway.outbox.templating import render_reply
from gateway.settings import Settings
from gateway.store.queues import REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once
from gateway.store.redis_conn import text
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
    """The sender's open requests (on every channel that knows them by this address), answered in their thread."""
    m, r = c.message, svc.redis
    convs = [text(x) for x in r.zrevrange(keys.sms_sender_conversations(phone_digest(m.sender)), 0, 20)]
    open_requests = []
    for conv_id in convs:
        status, ticket = (text(v or "") for v in r.hmget(keys.conversation(conv_id), ["status", "ticket_ref"]))
        if ticket and status not in CLOSED_STATUSES:
            open_requests.append({"ticket": ticket, "status": status})
    rendered = render_reply(
        svc.templates, "status_report", m.channel, m.language, svc.settings.default_language,
        {"requests": open_requests},
    )  # fmt: skip
    reply = Reply(conversation=c.conversation, channel=m.channel, recipient=m.sender, event="status_report",
                  language=rendered.language, text=rendered.text)  # fmt: skip
    enqueue_once(r, svc.settings, REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"),
                 f"reply-status-{m.id}-{m.channel}", "status_report reply")  # fmt: skip
    return Handled({"keyword": "status"})
