"""What the social channels share when they send: a reply goes out once, and what happened is on the record.

Each reply job has a delivery key (its job id). What became of it (sent with the provider's message id,
sent another way, refused, not deliverable) is kept under `keys.social_send` and checked first, so a
retried job never sends twice once a send is recorded. Every decision is put on the conversation's
timeline; one that staff must know about (the reply went out another way, or not at all) is also an
internal note on the ticket, written by a job of its own.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from gateway import keys
from gateway.models import utcnow
from gateway.settings import Settings
from gateway.store.queues import NOTE_FUNC, REPLIES_QUEUE, enqueue_once
from gateway.store.redis_conn import text

SEND_STATE_TTL_S = 14 * 86400


def conversation(r: redis.Redis, conv_id: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}


def outcome_of(r: redis.Redis, delivery_key: str) -> str | None:
    """How this reply already went out (or why not), if an earlier try got that far."""
    done = r.hget(keys.social_send(delivery_key), "outcome")
    return text(done) if done is not None else None


def flag(r: redis.Redis, delivery_key: str, name: str) -> bool:
    return bool(r.hexists(keys.social_send(delivery_key), name))


def set_flag(r: redis.Redis, delivery_key: str, name: str) -> None:
    with r.pipeline() as pipe:
        pipe.hset(keys.social_send(delivery_key), name, "1")
        pipe.expire(keys.social_send(delivery_key), SEND_STATE_TTL_S)
        pipe.execute()


def record(r: redis.Redis, conv_id: str, delivery_key: str, outcome: str, entry: dict[str, Any]) -> None:
    """The reply's outcome and its timeline entry together: a retry finds the one only with the other."""
    with r.pipeline() as pipe:
        pipe.hset(keys.social_send(delivery_key), "outcome", outcome)
        pipe.expire(keys.social_send(delivery_key), SEND_STATE_TTL_S)
        pipe.rpush(keys.timeline(conv_id), json.dumps({"at": utcnow().isoformat(), **entry}))
        pipe.execute()


def note_for_staff(r: redis.Redis, settings: Settings, conv_id: str, key: str, note: str) -> None:
    """An internal note on the conversation's ticket (a job: the ticket system is the workers' business)."""
    enqueue_once(r, settings, REPLIES_QUEUE, NOTE_FUNC, {"conversation": conv_id, "key": key, "text": note},
                 f"note-{key}", "note on the ticket")  # fmt: skip
