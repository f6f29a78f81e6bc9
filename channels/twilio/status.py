"""Twilio message status callbacks: delivery state, applied only forward, and what a final failure means.

Callbacks arrive out of order ("delivered" can come before a late "sent"): a state is written only
when it is further along than the one recorded. A final failure with a permanent error marks the
number undeliverable and puts it on the conversation's timeline, so the ticket shows that the family
did not get the update; error 21610 (the recipient opted out at the carrier) goes to the consent ledger.
"""

from __future__ import annotations

import asyncio
import json
import logging

import redis.asyncio as aioredis

from channels.base import HookContext
from channels.twilio.send import OPTED_OUT, PERMANENT_ERRORS
from channels.twilio.verify import TwilioVerifier
from gateway import keys
from gateway.errors import BadRequest
from gateway.models import utcnow
from gateway.outbox.consent import record_consent_async
from gateway.outbox.receipts import FORWARD_ONLY
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings
from gateway.store.queues import NOTE_UNDELIVERED_FUNC, REPLIES_QUEUE, enqueue_once
from gateway.store.redis_conn import sync_client, text
from normalizers.twilio_sms import DELIVERY_ORDER, FINAL_FAILURES, InvalidPayload, delivery_fields

log = logging.getLogger("intake.channels.twilio.status")

MESSAGE_TTL_S = 60 * 86400


class DeliveryStatusHook:
    """`POST /hooks/twilio/status`: verified like every Twilio webhook, applied forward only, never a request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = TwilioVerifier(settings.channels.twilio)

    async def handle(self, req: InboundRequest, hook: HookContext) -> AckResponse:
        params = self.verifier.verified_params(req)
        try:
            d = delivery_fields(params)
        except InvalidPayload as exc:
            raise BadRequest("the status callback is missing fields Twilio always sends", fields=exc.fields) from None
        script = hook.redis.register_script(FORWARD_ONLY)  # a local object: the script's SHA, no round trip
        outcome, _ = [text(v) for v in await script(
            keys=[keys.sms_message(d.message_sid)],
            args=[d.status, DELIVERY_ORDER[d.status], d.error_code, utcnow().isoformat(), MESSAGE_TTL_S],
        )]  # fmt: skip
        if outcome == "applied" and d.status in FINAL_FAILURES:
            await self.final_failure(hook.redis, d.message_sid, d.status, d.error_code)
        log.info("delivery status", extra={"status": d.status, "outcome": outcome, "error_code": d.error_code})
        return AckResponse(status=200)

    async def final_failure(self, client: aioredis.Redis, sid: str, status: str, error_code: str) -> None:
        record = {text(k): text(v) for k, v in (await client.hgetall(keys.sms_message(sid))).items()}
        conv, digest = record.get("conversation", ""), record.get("recipient", "")
        code = int(error_code) if error_code.isdigit() else 0
        permanent = code in PERMANENT_ERRORS
        async with client.pipeline(transaction=True) as pipe:
            if conv:
                entry = {"at": utcnow().isoformat(), "event": "reply_not_delivered", "reply_event": record.get("event"),
                         "status": status, "error_code": error_code, "permanent": permanent}  # fmt: skip
                pipe.rpush(keys.timeline(conv), json.dumps(entry))
            if permanent and digest:
                mark = {"at": utcnow().isoformat(), "error_code": error_code, "message": sid}
                pipe.hset(keys.SMS_UNDELIVERABLE, digest, json.dumps(mark))
            await pipe.execute()
        if code == OPTED_OUT and digest:
            await record_consent_async(
                client, digest, "opted_out", "carrier error 21610", record.get("number", ""), f"status-{sid}"
            )
        if permanent and conv:
            # The ticket system is the workers' business: the note goes as a job (rare: final failures only).
            note = {"conversation": conv, "key": sid, "reply_event": record.get("event", ""), "error_code": error_code,
                    "what": "text"}  # fmt: skip
            await asyncio.get_running_loop().run_in_executor(None, self._enqueue_note, note, f"undelivered-{sid}")

    def _enqueue_note(self, payload: dict[str, str], job_id: str) -> None:
        client = sync_client(self.settings)
        try:
            enqueue_once(client, self.settings, REPLIES_QUEUE, NOTE_UNDELIVERED_FUNC, payload, job_id,
                         "note an undelivered text")  # fmt: skip
        finally:
            client.close()
