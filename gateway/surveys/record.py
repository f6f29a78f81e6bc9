"""A conversation's survey in Redis: written once at resolution, then sent or skipped, then answered once.

Every change that must happen at most once (the claim, the answer, the comment) is one Lua script, so two clicks,
two texts or two web processes racing each other still store one answer. The scripts are the same for the worker's
client and the web process's asyncio client (`eval` has one signature on both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import redis

from gateway import keys

# What a survey is about, copied from the conversation when it is claimed: the answer is counted by these.
ABOUT = ("request", "ticket", "backend", "channel", "language", "department", "category", "school", "assignee")
RATINGS = range(1, 6)

Answered = Literal["stored", "already_answered", "expired", "not_sent", "no_survey"]
Commented = Literal["stored", "already_commented", "expired", "not_answered", "no_survey"]

# KEYS[1] the survey; ARGV: rating, via, now (epoch s), answered-set key, conversation.
_ANSWER = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'no_survey' end
if state == 'answered' then return 'already_answered' end
if state ~= 'sent' then return 'not_sent' end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
if tonumber(ARGV[3]) >= expires then return 'expired' end
redis.call('HSET', KEYS[1], 'state', 'answered', 'rating', ARGV[1], 'via', ARGV[2], 'answered_at', ARGV[3])
redis.call('ZADD', ARGV[4], ARGV[3], ARGV[5])
return 'stored'
"""

# KEYS[1] the survey; ARGV: comment, now (epoch s).
_COMMENT = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'no_survey' end
if state ~= 'answered' then return 'not_answered' end
if redis.call('HEXISTS', KEYS[1], 'comment') == 1 then return 'already_commented' end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
if tonumber(ARGV[2]) >= expires then return 'expired' end
redis.call('HSET', KEYS[1], 'comment', ARGV[1], 'commented_at', ARGV[2])
return 'stored'
"""


@dataclass(frozen=True, slots=True)
class Survey:
    """A survey as stored: `state` is scheduled, sent, skipped or answered."""

    conversation: str
    fields: Mapping[str, str]

    @property
    def state(self) -> str:
        return self.fields.get("state", "")

    @property
    def language(self) -> str:
        return self.fields.get("language", "")

    @property
    def rating(self) -> int | None:
        value = self.fields.get("rating", "")
        return int(value) if value.isdigit() else None

    @property
    def expires_at(self) -> float:
        return float(self.fields.get("expires_at") or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_survey(conv_id: str, raw: Mapping[bytes | str, bytes | str]) -> Survey | None:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Survey(conv_id, fields) if fields else None


def load(r: redis.Redis, conv_id: str) -> Survey | None:
    return as_survey(conv_id, r.hgetall(keys.survey(conv_id)))


def claim(r: redis.Redis, conv_id: str, about: Mapping[str, str], event: str, now: datetime) -> bool:
    """Make the conversation's one survey. False when it has one already (asked, skipped or waiting)."""
    if not r.hsetnx(keys.survey(conv_id), "state", "scheduled"):
        return False
    fields = {k: about.get(k, "") for k in ABOUT}
    fields |= {"event": event, "scheduled_at": str(int(now.timestamp()))}
    r.hset(keys.survey(conv_id), mapping={k: v for k, v in fields.items()})
    return True


def release(r: redis.Redis, conv_id: str) -> None:
    """The ticket was reopened before its survey went out: its next resolution asks instead."""
    r.delete(keys.survey(conv_id))


def mark_skipped(r: redis.Redis, conv_id: str, reasons: Mapping[str, str], now: datetime) -> None:
    """No channel of the family's may carry it now (each channel's reason is kept): it is never asked again."""
    mapping = {
        "state": "skipped", "skipped_at": str(int(now.timestamp())), "skipped": json.dumps(dict(reasons)),
    }  # fmt: skip
    r.hset(keys.survey(conv_id), mapping={k: v for k, v in mapping.items()})


def mark_sent(r: redis.Redis, conv_id: str, channels: list[str], now: datetime, expires: datetime) -> None:
    with r.pipeline() as pipe:
        pipe.hset(keys.survey(conv_id), mapping={"state": "sent", "sent_at": str(int(now.timestamp())),
                                                  "expires_at": str(int(expires.timestamp())),
                                                  "channels": ",".join(channels)})  # fmt: skip
        pipe.zadd(keys.SURVEYS_SENT, {conv_id: now.timestamp()})
        pipe.execute()


def answer_args(conv_id: str, rating: int, via: str, now: datetime) -> tuple[str, int, str, str, str, str, str, str]:
    """`eval` arguments of the answer script, for either client."""
    if rating not in RATINGS:
        raise ValueError("a rating is 1 to 5")
    when = str(int(now.timestamp()))
    return (_ANSWER, 1, keys.survey(conv_id), str(rating), via, when, keys.SURVEYS_ANSWERED, conv_id)


def comment_args(conv_id: str, comment: str, now: datetime) -> tuple[str, int, str, str, str]:
    """`eval` arguments of the comment script, for either client."""
    return (_COMMENT, 1, keys.survey(conv_id), comment, str(int(now.timestamp())))


def answer(r: redis.Redis, conv_id: str, rating: int, via: str, now: datetime) -> Answered:
    """Store the rating once. Anything but "stored" says why it was not."""
    outcome: Answered = _text(r.eval(*answer_args(conv_id, rating, via, now)))  # type: ignore[assignment]
    return outcome


def add_comment(r: redis.Redis, conv_id: str, comment: str, now: datetime) -> Commented:
    """Attach the family's comment to their rating, once."""
    outcome: Commented = _text(r.eval(*comment_args(conv_id, comment, now)))  # type: ignore[assignment]
    return outcome
