"""Notices of change, published where changes happen and heard by every web process (Redis pub/sub).

A notice carries only its topic, never what changed: a web process that hears one reads the new picture itself,
once for all its watchers. Publishing is best effort: a notice that cannot be sent never fails the work that
made the change (a ticket, a status event, a commit), and the dashboard catches up at its next periodic refresh.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis
import redis.asyncio as aioredis

from gateway import keys

log = logging.getLogger("intake.dashboard")

Topic = Literal["incoming", "tickets", "sla", "incidents"]
TOPICS: tuple[Topic, ...] = ("incoming", "tickets", "sla", "incidents")


def announce(client: redis.Redis, topic: Topic) -> None:
    """Tell every web process's dashboard that `topic` changed (from a worker or a command)."""
    try:
        client.publish(keys.DASH_CHANGES, topic)
    except (redis.RedisError, OSError) as exc:
        log.warning("dashboard notice not sent", extra={"topic": topic, "error": type(exc).__name__})


def announce_in(pipe: redis.client.Pipeline, topic: Topic) -> None:
    """announce, queued in the transaction that makes the change (no round trip of its own; if the transaction
    fails, so does the change it tells of)."""
    pipe.publish(keys.DASH_CHANGES, topic)


async def announce_async(client: aioredis.Redis, topic: Topic) -> None:
    try:
        await client.publish(keys.DASH_CHANGES, topic)
    except (redis.RedisError, OSError) as exc:
        log.warning("dashboard notice not sent", extra={"topic": topic, "error": type(exc).__name__})
