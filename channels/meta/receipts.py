"""WhatsApp's `statuses`: delivery receipts of the messages we sent, applied forward only, never a request.

A receipt is written only when it moves the message forward (sent, delivered, read; failed). A failure
Meta reports after it took the message (more than 24 hours since the family last wrote: 131047, or the
number is not on WhatsApp: 131026) sends the same reply another way, as a new reply job that knows
what Meta refused; any other failure is put on the conversation's timeline and noted on the ticket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from channels.meta.graph import classify
from channels.meta.window import META_WAYS
from channels.social.sending import SEND_STATE_TTL_S
from gateway import keys
from gateway.models import utcnow
from gateway.outbox.receipts import FORWARD_ONLY
from gateway.settings import Settings
from gateway.store.queues import NOTE_UNDELIVERED_FUNC, REPLIES_QUEUE, SEND_REPLY_FUNC, enqueue_once
from gateway.store.redis_conn import sync_client, text
from normalizers.meta import WHATSAPP_ORDER, WhatsAppStatus

log = logging.getLogger("intake.meta.receipts")

RECEIPT_TTL_S = 2 * 86400


async def apply_receipts(client: aioredis.Redis, settings: Settings, statuses: Sequence[WhatsAppStatus]) -> None:
    script = client.register_script(FORWARD_ONLY)  # a local object: the script's SHA, no round trip
    for s in statuses:
        outcome, _ = [text(v) for v in await script(
            keys=[keys.meta_message(s.message_id)],
            args=[s.status, WHATSAPP_ORDER[s.status], str(s.error_code or ""), utcnow().isoformat(), RECEIPT_TTL_S],
        )]  # fmt: skip
        log.info("whatsapp receipt", extra={"status": s.status, "outcome": outcome, "error_code": s.error_code})
        if outcome == "applied" and s.status == "failed":
            await failed(client, settings, s)


async def failed(client: aioredis.Redis, settings: Settings, s: WhatsAppStatus) -> None:
    record = {text(k): text(v) for k, v in (await client.hgetall(keys.meta_message(s.message_id))).items()}
    conv, key, reply = record.get("conversation", ""), record.get("key", ""), record.get("reply", "")
    if not conv or not key:
        return  # a message this gateway did not send, or whose record has expired
    kind = classify(400, s.error_code, 0)
    if kind in ("window", "unreachable") and reply:
        # Refused after it was accepted: the same reply, another way (a template, a text, an email).
        ruled_out = META_WAYS if kind == "unreachable" else frozenset({record.get("way") or "free_form"})
        await asyncio.get_running_loop().run_in_executor(None, _resend, settings, key, reply, sorted(ruled_out))
        return
    entry = {"at": utcnow().isoformat(), "event": "reply_not_delivered", "channel": "whatsapp",
             "error_code": str(s.error_code), "permanent": True}  # fmt: skip
    await client.rpush(keys.timeline(conv), json.dumps(entry))
    event = json.loads(reply).get("event", "") if reply else ""
    note = {"conversation": conv, "key": s.message_id, "reply_event": event, "error_code": str(s.error_code),
            "what": "WhatsApp message"}  # fmt: skip
    job = f"undelivered-{s.message_id}"
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None, _enqueue, settings, NOTE_UNDELIVERED_FUNC, note, job, "note an undelivered message"
    )


def _resend(settings: Settings, key: str, reply: str, ruled_out: list[str]) -> None:
    again = f"{key}-after-refusal"
    client = sync_client(settings)
    try:
        with client.pipeline() as pipe:
            for way in ruled_out:
                pipe.hset(keys.social_send(again), f"refused:{way}", "1")
            pipe.expire(keys.social_send(again), SEND_STATE_TTL_S)
            pipe.execute()
        enqueue_once(client, settings, REPLIES_QUEUE, SEND_REPLY_FUNC, json.loads(reply), again,
                     "reply again, another way (whatsapp refused it)")  # fmt: skip
    finally:
        client.close()


def _enqueue(settings: Settings, func: str, payload: dict[str, str], job_id: str, description: str) -> None:
    client = sync_client(settings)
    try:
        enqueue_once(client, settings, REPLIES_QUEUE, func, payload, job_id, description)
    finally:
        client.close()
