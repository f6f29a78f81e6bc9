"""The consent ledger: which phone numbers said STOP, across every district number, and the history of each.

A number is keyed by a digest, never stored or logged in clear here. Every change is applied once per
source (the MessageSid of the STOP text, or the carrier's error on a status callback), so a replayed
job or a retried webhook never writes history twice. The outbox reads `is_suppressed` at send time.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Literal

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.models import utcnow

ConsentState = Literal["opted_out", "opted_in"]
APPLIED_TTL_S = 400 * 86400


@lru_cache(maxsize=4096)  # asked several times per text on the request path (threading, commit)
def phone_digest(phone: str) -> str:
    return hashlib.sha256(phone.strip().encode()).hexdigest()[:32]


def _entry(state: ConsentState, how: str, number: str) -> str:
    return json.dumps({"state": state, "at": utcnow().isoformat(), "how": how, "number": number})


def record_consent(r: redis.Redis, phone: str, state: ConsentState, how: str, number: str, source: str) -> bool:
    """Apply one consent change. False when this source was already applied."""
    if not r.set(keys.sms_consent_applied(source), 1, nx=True, ex=APPLIED_TTL_S):
        return False
    digest = phone_digest(phone)
    entry = _entry(state, how, number)
    with r.pipeline() as pipe:
        pipe.rpush(keys.sms_consent_log(digest), entry)
        if state == "opted_out":
            pipe.hset(keys.SMS_OPTED_OUT, digest, entry)
        else:
            pipe.hdel(keys.SMS_OPTED_OUT, digest)
        pipe.execute()
    return True


async def record_consent_async(
    r: aioredis.Redis, phone_digest_value: str, state: ConsentState, how: str, number: str, source: str
) -> bool:
    if not await r.set(keys.sms_consent_applied(source), 1, nx=True, ex=APPLIED_TTL_S):
        return False
    entry = _entry(state, how, number)
    async with r.pipeline() as pipe:
        pipe.rpush(keys.sms_consent_log(phone_digest_value), entry)
        if state == "opted_out":
            pipe.hset(keys.SMS_OPTED_OUT, phone_digest_value, entry)
        else:
            pipe.hdel(keys.SMS_OPTED_OUT, phone_digest_value)
        await pipe.execute()
    return True


def is_suppressed(r: redis.Redis, phone: str) -> bool:
    return bool(r.hexists(keys.SMS_OPTED_OUT, phone_digest(phone)))


def history(r: redis.Redis, phone: str) -> list[dict[str, str]]:
    return [json.loads(e) for e in r.lrange(keys.sms_consent_log(phone_digest(phone)), 0, -1)]
