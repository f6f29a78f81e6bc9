"""Sending a reply by email from a worker: who sends it, whether it may go at all, and threading it.

An automatic reply (the acknowledgement) never goes to an address that bounced, to one of our own
mailboxes, or past the per-recipient daily budget (RFC 3834's advice against answering loops).
"""

from __future__ import annotations

import hashlib
import logging

import redis

from channels.email.intake import Thread, compose, reply_message_id
from channels.email.send import send
from gateway import keys
from gateway.intake.conversations import THREAD_KEY_TTL_S
from gateway.models import Reply, utcnow
from gateway.outbox.parked import park
from gateway.settings import EmailSettings, Mailbox, Settings
from gateway.store.redis_conn import text
from normalizers.email_flags import is_no_reply

log = logging.getLogger("intake.email.out")

AUTOMATIC_EVENTS = {"received", "after_hours"}
SENT_TTL_S = 30 * 86400  # longer than any job's retries and a replay after them


def budget_key(recipient: str, day: str) -> str:
    digest = hashlib.sha256(recipient.lower().encode()).hexdigest()[:24]
    return f"{keys.PREFIX}:mail:autoreply:{digest}:{day}"


NO_SENDER = "no mailbox sends email"


def _sender(conf: EmailSettings, conv: dict[str, str]) -> tuple[str, Mailbox | None]:
    """The mailbox a conversation's replies leave from: the one it came to, else the default sender."""
    account = conv.get("account", "")
    name = account if conv.get("channel") == "email" and account in conf.mailboxes else conf.sender_mailbox()
    box = conf.mailboxes.get(name or "")
    return name or "", box if box is not None and box.smtp is not None else None


def email_held_back(r: redis.Redis, settings: Settings, reply: Reply) -> str:
    """Why this reply would wait on the outbound list now ("" when a mailbox would send it)."""
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(reply.conversation)).items()}
    return "" if _sender(settings.channels.email, conv)[1] is not None else NO_SENDER


def email_survey_blocked(r: redis.Redis, settings: Settings, recipient: str) -> str:
    """Why no survey may be mailed to `recipient` ("" when one may): the same addresses no reply ever reaches."""
    address = recipient.lower()
    if not address:
        return "no email address"
    if address in {m.address.lower() for m in settings.channels.email.mailboxes.values()}:
        return "one of our own mailboxes"
    if r.hexists(keys.MAIL_UNDELIVERABLE, address):
        return "the address bounced"
    if is_no_reply(address):
        return "a no-reply address"
    return ""


def send_email_reply(r: redis.Redis, settings: Settings, reply: Reply, delivery_key: str) -> str:
    """Send now, or say why not. Raises on SMTP failure so the job is retried, then dead-lettered."""
    conf = settings.channels.email
    sent_key = keys.email_sent(delivery_key)
    if r.exists(sent_key):
        return "already sent"  # a run killed after the relay took the mail, before the job was recorded done
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(reply.conversation)).items()}
    name, box = _sender(conf, conv)
    if box is None or box.smtp is None:
        park(r, reply, delivery_key)
        return f"pending: {NO_SENDER}"
    recipient = reply.recipient.lower()
    if recipient in {m.address.lower() for m in conf.mailboxes.values()}:
        return "suppressed: one of our own mailboxes"
    if r.hexists(keys.MAIL_UNDELIVERABLE, recipient):
        return "suppressed: the address bounced"
    if is_no_reply(recipient):
        return "suppressed: a no-reply address"
    automatic = reply.event in AUTOMATIC_EVENTS
    if automatic and not _within_budget(r, recipient, delivery_key, conf.auto_replies_per_day, settings):
        return "suppressed: daily budget of automatic replies spent"
    refs = tuple(text(x) for x in r.lrange(keys.conversation_refs(reply.conversation), 0, -1))
    thread = Thread(
        ticket=conv.get("ticket_ref", ""),
        subject=conv.get("subject", "") if conv.get("channel") == "email" else "",
        reply_token=conv.get("reply_token", ""),
        references=refs,
    )
    message_id = reply_message_id(conf, settings.signing_key(), delivery_key)
    msg = compose(mailbox=box, conf=conf, to=reply.recipient, subject=reply.subject, text=reply.text,
                  thread=thread, message_id=message_id, automatic=automatic)  # fmt: skip
    bare = message_id.strip("<>")
    with r.pipeline() as pipe:
        # The family's answer will quote this Message-ID: it must lead back to the conversation. Written before the
        # send, so that once the mail is out the only write left is the one that says so.
        pipe.set(keys.message_id(bare), reply.conversation, ex=THREAD_KEY_TTL_S)
        pipe.lrem(keys.conversation_refs(reply.conversation), 0, bare)
        pipe.rpush(keys.conversation_refs(reply.conversation), bare)
        pipe.ltrim(keys.conversation_refs(reply.conversation), -20, -1)
        pipe.execute()
    # Recorded the moment the relay takes the mail (not after QUIT, not after the job): a run killed in between,
    # and rq's re-run of it, find it and send nothing. SMTP takes no idempotency key; the Message-ID, the same on
    # every try, lets a receiving system that dedupes by it (Gmail does) drop a copy sent in the one write's window.
    send(msg, box.smtp, box.address, accepted=lambda: r.set(sent_key, bare, ex=SENT_TTL_S))
    log.info("email sent", extra={"event": reply.event, "conversation": reply.conversation, "mailbox": name})
    return "sent"


def _within_budget(r: redis.Redis, recipient: str, delivery_key: str, per_day: int, settings: Settings) -> bool:
    day = utcnow().astimezone(settings.zone).date().isoformat()
    key = budget_key(recipient, day)
    # Count each delivery once, even when its send is retried.
    if r.set(f"{key}:{delivery_key}", 1, nx=True, ex=2 * 86400):
        used = int(r.incr(key))
        r.expire(key, 2 * 86400)
    else:
        used = int(r.get(key) or 0)
    return used <= per_day
