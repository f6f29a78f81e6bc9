"""Sending a reply by text from a worker: consent, quiet hours, the per-number rate, and never twice.

Order of checks at SEND time (a STOP that arrived after the reply was queued still wins): the consent
ledger, a number marked undeliverable, quiet hours (a non-urgent update is rescheduled for the end of
the window with rq's enqueue_at), the per-number rate. Then the text goes out from the number the
family texted (or its Messaging Service) through the official twilio Client.

Never a duplicate: the attempt is recorded before the API call and the MessageSid right after it. A
retry of a job whose last attempt ended ambiguously (a timeout, a 5xx: the text may exist at Twilio)
first looks for that text at Twilio and records its sid instead of sending again. A 429 or another
definite refusal clears the attempt, and rq retries with backoff, then dead-letters the job.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import redis
from twilio.base.exceptions import TwilioRestException

from channels.twilio.send import OPTED_OUT, PERMANENT_ERRORS, find_sent, is_ambiguous, is_permanent, send_sms
from gateway import keys
from gateway.errors import DeliveryFailed
from gateway.models import Reply, utcnow
from gateway.outbox.consent import is_suppressed, phone_digest, record_consent
from gateway.outbox.quiet_hours import hold_until
from gateway.outbox.segments import within_budget
from gateway.settings import Settings, TwilioNumber
from gateway.store.queues import NOTE_UNDELIVERED_FUNC, REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once
from gateway.store.redis_conn import text
from normalizers.twilio_sms import FINAL_FAILURES, is_phone

log = logging.getLogger("intake.sms.out")

SEND_STATE_TTL_S = 14 * 86400
MESSAGE_TTL_S = 60 * 86400
RATE_WAIT_LIMIT_S = 30.0
LOOKBACK = timedelta(minutes=5)  # clock skew between us and Twilio when looking for an ambiguous send


def _conv(r: redis.Redis, conv_id: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}


def _timeline(pipe: redis.client.Pipeline, conv_id: str, entry: dict[str, Any]) -> None:
    pipe.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))


def send_sms_reply(r: redis.Redis, settings: Settings, reply: Reply, delivery_key: str) -> str:
    """Send now, hold, or say why not. Raises on a retryable API failure so rq retries, then dead-letters."""
    conf = settings.channels.twilio
    conv = _conv(r, reply.conversation)
    name = conv.get("account", "")
    if name not in conf.numbers:
        name = next(iter(conf.numbers))
    number = conf.numbers[name]
    to = reply.recipient
    if not is_phone(to):
        return "suppressed: no phone number"
    if is_suppressed(r, to):
        return "suppressed: opted out"
    if r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(to)):
        return "suppressed: the number cannot receive texts"
    if not within_budget(reply.text):
        # The template test keeps shipped templates within budget; a long staff comment still goes, in parts.
        log.warning("reply is longer than its segment budget", extra={"event": reply.event, "chars": len(reply.text)})
    now = utcnow()
    until = hold_until(
        now, event=reply.event, priority=conv.get("priority", "normal"), urgent=conf.urgent_priorities,
        spec=conf.quiet_hours, zone=settings.zone, not_before=reply.not_before,
    )  # fmt: skip
    if until is not None:
        return hold(r, settings, reply, delivery_key, until)
    wait_for_rate(r, name, conf.sends_per_second_per_number)
    try:
        sid = send_once(r, settings, reply, number, delivery_key)
    except TwilioRestException as exc:
        if is_permanent(exc):
            return refused(r, settings, reply, name, delivery_key, exc)
        raise DeliveryFailed(f"twilio answered {exc.status}", status=exc.status, code=exc.code) from None
    except Exception as exc:
        raise DeliveryFailed(f"{type(exc).__name__} while talking to twilio") from None
    with r.pipeline() as pipe:
        msg = keys.sms_message(sid)
        pipe.hset(msg, mapping={"conversation": reply.conversation, "recipient": phone_digest(to),
                                "event": reply.event, "number": name})  # fmt: skip
        pipe.hsetnx(msg, "status", "queued")
        pipe.hsetnx(msg, "rank", 1)
        pipe.expire(msg, MESSAGE_TTL_S)
        _timeline(pipe, reply.conversation, {"event": "sms_sent", "reply_event": reply.event, "message": sid})
        pipe.execute()
    callback_came_first(r, settings, reply, name, sid)
    log.info("text sent", extra={"event": reply.event, "conversation": reply.conversation, "number": name})
    return "sent"


def sms_survey_blocked(r: redis.Redis, to: str) -> str:
    """Why no survey may be texted to `to` ("" when one may). Quiet hours are no reason: the text is held."""
    if not is_phone(to):
        return "no phone number"
    if is_suppressed(r, to):
        return "opted out"
    if r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(to)):
        return "the number cannot receive texts"
    return ""


def send_once(r: redis.Redis, settings: Settings, reply: Reply, number: TwilioNumber, delivery_key: str) -> str:
    conf = settings.channels.twilio
    state_key = keys.sms_send(delivery_key)
    state = {text(k): text(v) for k, v in r.hgetall(state_key).items()}
    if state.get("sid"):
        return state["sid"]
    if state.get("attempt_at"):
        since = datetime.fromisoformat(state["attempt_at"]) - LOOKBACK
        found = find_sent(conf, to=reply.recipient, body=reply.text, since=since)
        if found:
            r.hset(state_key, "sid", found)
            log.info("an ambiguous send had gone out: not sending again", extra={"conversation": reply.conversation})
            return found
    r.hset(state_key, "attempt_at", utcnow().isoformat())
    r.expire(state_key, SEND_STATE_TTL_S)
    callback = settings.server.public_base_url.rstrip("/") + "/hooks/twilio/status"
    try:
        sid = send_sms(conf, to=reply.recipient, body=reply.text, number=number,
                       status_callback=callback if settings.server.public_base_url else "")  # fmt: skip
    except Exception as exc:
        if not is_ambiguous(exc):
            r.hdel(state_key, "attempt_at")  # Twilio refused it: nothing was created, a retry may send
        log.warning("text not sent", extra={"error": type(exc).__name__, "status": getattr(exc, "status", None)})
        raise
    r.hset(state_key, "sid", sid)
    return sid


def refused(
    r: redis.Redis, settings: Settings, reply: Reply, number: str, delivery_key: str, exc: TwilioRestException
) -> str:
    """A permanent error: sending again can never work. Mark the number; the ticket says so."""
    code = int(exc.code or 0)
    mark_undeliverable(r, settings, reply, number, delivery_key, code)
    log.warning("text refused permanently", extra={"error_code": code, "conversation": reply.conversation})
    return f"failed: error {code}"


def mark_undeliverable(r: redis.Redis, settings: Settings, reply: Reply, number: str, key: str, code: int) -> None:
    digest = phone_digest(reply.recipient)
    with r.pipeline() as pipe:
        pipe.hset(keys.SMS_UNDELIVERABLE, digest, json.dumps({"at": utcnow().isoformat(), "error_code": code}))
        _timeline(pipe, reply.conversation, {"event": "reply_not_delivered", "reply_event": reply.event,
                                             "error_code": str(code), "permanent": True})  # fmt: skip
        pipe.execute()
    if code == OPTED_OUT:
        record_consent(r, reply.recipient, "opted_out", "carrier error 21610", number, f"send-{key}")
    # The ticket is told in a job of its own, as the status callback tells it: the same job id either way, so once.
    note = {"conversation": reply.conversation, "key": key, "reply_event": reply.event, "error_code": str(code),
            "what": "text"}  # fmt: skip
    enqueue_once(r, settings, REPLIES_QUEUE, NOTE_UNDELIVERED_FUNC, note, f"undelivered-{key}",
                 "note an undelivered text")  # fmt: skip


def callback_came_first(r: redis.Redis, settings: Settings, reply: Reply, number: str, sid: str) -> None:
    """A status callback may beat our record of the send: its final failure is then applied here."""
    status, error = (text(v or "") for v in r.hmget(keys.sms_message(sid), ["status", "error"]))
    if status in FINAL_FAILURES and error.isdigit() and int(error) in PERMANENT_ERRORS:
        mark_undeliverable(r, settings, reply, number, sid, int(error))


def hold(r: redis.Redis, settings: Settings, reply: Reply, delivery_key: str, until: datetime) -> str:
    """Reschedule for the end of quiet hours, once (a deterministic job id), with the same retries."""
    payload = reply.model_copy(update={"not_before": until}).model_dump(mode="json")
    enqueue_once(r, settings, REPLIES_QUEUE, SEND_REPLY_FUNC, payload, f"{delivery_key}-held",
                 f"{reply.event} reply (sms, held)", at=until)  # fmt: skip
    with r.pipeline() as pipe:
        _timeline(pipe, reply.conversation, {"event": "sms_held", "reply_event": reply.event,
                                             "until": until.isoformat()})  # fmt: skip
        pipe.execute()
    return f"held until {until.isoformat()}"


def wait_for_rate(r: redis.Redis, number: str, per_second: float) -> None:
    """At most `per_second` sends per district number per second, across every worker (a Redis counter)."""
    limit = max(1, int(per_second))
    deadline = time.monotonic() + RATE_WAIT_LIMIT_S
    while True:
        second = int(time.time())
        key = keys.sms_rate(number, second)
        used = int(r.incr(key))
        r.expire(key, 5)
        if used <= limit or time.monotonic() > deadline:
            return
        time.sleep(max(0.0, second + 1 - time.time()) + 0.01)
