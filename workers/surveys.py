"""Surveys at close: the decision when a ticket is resolved, and the survey itself on the family's channels.

At the resolution (workers/status_events.py) the conversation's one survey is claimed, then asked at once or after
`surveys.delay_minutes` by the `send_survey` job. That job asks each of the family's channels (the same targets as
every reply) whether it may carry a survey now (`survey_blocked`: an opted-out number, a no-reply address, Meta's
closed window); the others get it, rendered from templates/csat/ in the family's language, through the outbox like
any reply (an SMS survey waits out quiet hours there). When no channel may carry it, the survey is recorded as
skipped, with each channel's reason, and is never asked again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import redis

from channels import reply_targets
from channels.email.intake import reply_message_id
from channels.email.send import send
from gateway import keys
from gateway.intake.conversations import CLOSED_STATUSES
from gateway.models import StatusEvent, TicketStatus, utcnow
from gateway.outbox.plan import plan_replies
from gateway.routing.model import LOW_RATING_ACTIONS
from gateway.settings import MailServer, Settings
from gateway.store.queues import (
    EVENTS_QUEUE,
    MAIL_SUPERVISORS_FUNC,
    NOTE_FUNC,
    SEND_REPLY_FUNC,
    SEND_SURVEY_FUNC,
    STATUS_EVENT_FUNC,
)
from gateway.store.redis_conn import text
from gateway.surveys import record
from gateway.surveys.escalation import NOBODY, mail_text, recipients_for
from gateway.surveys.links import rating_links
from gateway.surveys.notes import LOW
from gateway.tickets import TicketStore
from gateway.web.status_links import public_base, short_reference
from workers import context
from workers.backends.email_forward import EmailForwardBackend
from workers.locks import conversation_lock
from workers.queues import REPLIES_QUEUE, enqueue_once
from workers.replies import reply_context

log = logging.getLogger("intake.surveys")


def _conv(r: redis.Redis, conv_id: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}


def _about(conv: dict[str, str]) -> dict[str, str]:
    return {
        "request": conv.get("first_request", ""), "ticket": conv.get("ticket_ref", ""),
        "backend": conv.get("backend", ""), "channel": conv.get("channel", ""), "language": conv.get("language", ""),
        "department": conv.get("queue", ""), "category": conv.get("category", ""), "school": conv.get("school", ""),
        "assignee": conv.get("assignee", ""),
    }  # fmt: skip


def schedule_survey(r: redis.Redis, conv_id: str, event_id: str) -> bool:
    """The ticket was resolved: claim the conversation's one survey and queue it. False when it has one already."""
    s = context.settings().surveys
    if not s.enabled:
        return False
    now = utcnow()
    if not record.claim(r, conv_id, _about(_conv(r, conv_id)), event_id, now):
        mine = record.load(r, conv_id)
        if mine is None or mine.state != "scheduled" or mine.fields.get("event") != event_id:
            return False
        # This event claimed it and then died before queueing: queue it now (the job id makes it once).
        now = datetime.fromtimestamp(int(mine.fields.get("scheduled_at") or now.timestamp()), UTC)
    at = now + timedelta(minutes=s.delay_minutes) if s.delay_minutes else None
    enqueue_once(REPLIES_QUEUE, SEND_SURVEY_FUNC, {"conversation": conv_id, "event": event_id},
                 f"survey-{conv_id}-{event_id}", "satisfaction survey", at=at)  # fmt: skip
    return True


def send_survey(payload: dict[str, Any]) -> str:
    """Ask the family, on every channel of theirs that may carry a survey now; or record why none may."""
    conv_id = str(payload["conversation"])
    r = context.connection()
    with conversation_lock(r, conv_id):
        survey = record.load(r, conv_id)
        if survey is None or survey.state != "scheduled" or survey.fields.get("event") != payload.get("event"):
            return "already decided"
        conv = _conv(r, conv_id)
        if conv.get("status") not in CLOSED_STATUSES:
            record.release(r, conv_id)  # reopened during the delay: its next resolution asks
            return "reopened"
        return _ask(r, conv_id, conv)


def _ask(r: redis.Redis, conv_id: str, conv: dict[str, str]) -> str:
    s = context.settings()
    now = utcnow()
    allowed, blocked = [], {}
    for channel_name, recipient in reply_targets(conv):
        channel = context.channel(channel_name)
        # A channel this worker does not run is asked nothing: its reply waits on its outbound list as any would.
        reason = channel.survey_blocked(conv, recipient, context.services()) if channel is not None else ""
        if reason:
            blocked[channel_name] = reason
        else:
            allowed.append((channel_name, recipient))
    if not allowed:
        record.mark_skipped(r, conv_id, blocked, now)
        _timeline(r, conv_id, {"event": "survey_skipped", "reasons": blocked})
        log.info("survey skipped", extra={"conversation": conv_id, "reasons": sorted(set(blocked.values()))})
        return "skipped"
    expires = now + timedelta(days=s.surveys.expire_days)
    extra = {
        "rating_links": rating_links(public_base(s), s.signing_key(), conv_id, expires),
        "survey_days": s.surveys.expire_days,
    }
    replies = plan_replies(context.templates(), conv_id, conv, "csat", reply_context(conv_id, conv, extra),
                          s.default_language, allowed)  # fmt: skip
    record.mark_sent(r, conv_id, [reply.channel for reply in replies], now, expires)
    for reply in replies:
        channel = context.channel(reply.channel)
        if channel is not None:
            channel.survey_sent(reply, expires.timestamp(), context.services())  # e.g. SMS: await its "Reply 1-5"
        enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"),
                     f"reply-survey-{conv_id}-{reply.channel}", f"csat reply ({reply.channel})")  # fmt: skip
    _timeline(r, conv_id, {"event": "survey_sent", "channels": [reply.channel for reply in replies],
                           "skipped": blocked})  # fmt: skip
    log.info("survey sent", extra={"conversation": conv_id, "channels": [reply.channel for reply in replies]})
    return "sent"


def _timeline(r: redis.Redis, conv_id: str, entry: dict[str, Any]) -> None:
    r.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))


LOW_RATING_NOTES = {
    "reopen": "The family rated this request {rating} out of 5: reopened, as the routing rules say "
    "(low_rating: reopen).",
    "notify": "The family rated this request {rating} out of 5: a supervisor should follow up with them "
    "(routing rules: low_rating: notify).",
}
NO_RELAY = (
    "no SMTP server sends the gateway's mail (give a channels.email mailbox an smtp server, or set backends.email.smtp)"
)


def act_on_low_rating(payload: dict[str, Any]) -> str:
    """A rating of 1 or 2: do what the request's routing rules said (`low_rating`), once.

    `reopen` sets the ticket open again in its ticket system (and tells the family, as any reopening does);
    `notify` mails the department's supervisors (a job of its own) and notes on the ticket who was mailed, or why
    nobody could be. Either way the note says why; with no rule, nothing. Each step is queued or keyed once, and
    the action is marked done only after them: a retry after a failure part-way does what is left."""
    conv_id = str(payload["conversation"])
    r = context.connection()
    conv = _conv(r, conv_id)
    survey = record.load(r, conv_id)
    action = conv.get("low_rating", "")
    ref = conv.get("ticket_ref", "")
    if survey is None or survey.rating is None or survey.rating > LOW or action not in LOW_RATING_ACTIONS or not ref:
        return "nothing"
    if r.hexists(keys.survey(conv_id), "low_rating_action"):
        return "already done"
    backend = conv.get("backend") or context.settings().backends.default
    text_ = LOW_RATING_NOTES[action].format(rating=survey.rating)
    if action == "reopen":
        context.backend(backend).set_status(ref, TicketStatus.OPEN, None, "intake-gateway", f"survey-reopen-{conv_id}")
        # The system's own status event may follow (a webhook); this one is the same change, told once.
        event = StatusEvent(backend=backend, ticket_ref=ref, status=TicketStatus.OPEN, actor="intake-gateway",
                            delivery_id=f"survey-reopen-{conv_id}")  # fmt: skip
        enqueue_once(EVENTS_QUEUE, STATUS_EVENT_FUNC, event.model_dump(mode="json"), f"event-{event.event_id()}",
                     "status event (survey reopen)")  # fmt: skip
    else:
        text_ = f"{text_.rstrip('.')}; {_notify_supervisors(conv_id, conv, survey.rating)}."
    note = {"conversation": conv_id, "key": f"survey-low-{conv_id}", "text": text_}
    enqueue_once(REPLIES_QUEUE, NOTE_FUNC, note, f"note-survey-low-{conv_id}", "note a low survey rating")
    r.hsetnx(keys.survey(conv_id), "low_rating_action", action)
    log.warning("low survey rating", extra={"conversation": conv_id, "rating": survey.rating, "action": action})
    return action


def _notify_supervisors(conv_id: str, conv: dict[str, str], rating: int) -> str:
    """Queue the supervisors' mail (once per conversation); what the ticket's note says of it."""
    settings = context.settings()
    store = TicketStore.from_settings(settings)
    try:
        staff = recipients_for(store.users.all(include_disabled=False), conv.get("queue", ""))
    finally:
        store.close()
    why_not = "" if _relay(settings) else NO_RELAY
    why_not = why_not or ("" if staff else NOBODY)
    if why_not:
        return f"no supervisor could be mailed: {why_not}"
    payload = {"conversation": conv_id, "rating": rating,
               "recipients": [{"username": s.username, "email": s.email, "why": s.why} for s in staff]}  # fmt: skip
    enqueue_once(REPLIES_QUEUE, MAIL_SUPERVISORS_FUNC, payload, f"mail-supervisors-{conv_id}",
                 "mail supervisors of a low survey rating")  # fmt: skip
    return f"a mail goes to {', '.join(s.username for s in staff)} ({staff[0].why})"


def _relay(settings: Settings) -> tuple[MailServer, str, str] | None:
    """The SMTP the gateway already sends with: the email channel's sending mailbox, else the email backend's relay."""
    email = settings.channels.email
    box = email.mailboxes.get(email.sender_mailbox() or "")
    if box is not None and box.smtp is not None:
        return box.smtp, box.address, box.display_name
    forward = EmailForwardBackend.settings_of(settings) if EmailForwardBackend.enabled(settings) else None
    if forward is not None and forward.smtp is not None:
        return forward.smtp, forward.from_address, forward.from_name
    return None


def mail_supervisors(payload: dict[str, Any]) -> str:
    """One short mail to each supervisor `_notify_supervisors` chose. Each is marked sent on the survey after its
    SMTP accepted it, so a retried job mails only those it had not reached (and repeats their Message-ID)."""
    conv_id, rating = str(payload["conversation"]), int(payload["rating"])
    r = context.connection()
    settings = context.settings()
    relay = _relay(settings)
    if relay is None:
        raise LookupError(NO_RELAY)  # the config changed since the note: retried, then dead-lettered for replay
    server, address, name = relay
    conv = _conv(r, conv_id)
    backend = conv.get("backend") or settings.backends.default
    reference = short_reference(conv.get("first_request") or conv_id)
    sent = 0
    for who in payload["recipients"]:
        mark_ = f"supervisor_mailed:{who['username']}"
        if r.hexists(keys.survey(conv_id), mark_):
            continue
        subject, body = mail_text(conv, backend, reference, rating, str(who["why"]))
        msg = EmailMessage()
        msg["From"] = formataddr((name, address))
        msg["To"] = str(who["email"])
        msg["Subject"] = subject
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = reply_message_id(
            settings.channels.email, settings.signing_key(), f"supervisor-{conv_id}-{who['username']}"
        )
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: an out-of-office answer must not come back to us
        msg["X-Loop"] = settings.channels.email.loop_stamp
        msg.set_content(body)
        send(msg, server, address)
        r.hset(keys.survey(conv_id), mark_, int(utcnow().timestamp()))
        sent += 1
    log.info("supervisors mailed", extra={"conversation": conv_id, "mailed": sent,
                                          "recipients": len(payload["recipients"])})  # fmt: skip
    return f"mailed {sent}"
