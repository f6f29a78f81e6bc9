"""Releasing parked replies at a district's size: a list longer than a page, and a channel that stays off.

Every worker releases parked replies when it starts and on each maintenance pass. A list read whole costs every
worker the list's size in memory each time (a 150,000-message soak parks 120,000 email replies while email is
off); these tests hold the release to its outcome with the list read a page at a time, or only counted.
"""

from __future__ import annotations

import json
from datetime import timedelta

from gateway import keys
from gateway.models import Reply, utcnow
from gateway.outbox.parked import PAGE, park
from gateway.settings import Settings
from tests.support.redis_server import RedisServer
from workers import context
from workers.parked import UNREADABLE, not_switched_on, release_parked
from workers.retention import sweep

REPLIES = "rq:queue:replies"


def reply(channel: str, n: int) -> Reply:
    return Reply(conversation=f"conv-{n}", channel=channel, recipient=f"family-{n}", event="received", text=f"#{n}")


def lrange_calls(redis_server: RedisServer) -> int:
    stats = redis_server.client().info("commandstats")
    return int(stats.get("cmdstat_lrange", {}).get("calls", 0))


def test_a_list_of_several_pages_goes_back_once_each_and_the_unreadable_entries_stay_in_order(
    redis_server: RedisServer, settings: Settings
) -> None:
    context.configure(settings)
    r = redis_server.client()
    total = 2 * PAGE + 203
    garbage_at = {0, PAGE - 1, PAGE, 2 * PAGE, total - 1}  # at the ends of the pages, where a moved start would slip
    garbage = []
    for n in range(total):
        if n in garbage_at:
            garbage.append(f"not json {n}".encode())
            r.rpush(keys.pending_outbound("webform"), garbage[-1])
        else:
            park(r, reply("webform", n), f"key-{n}")

    parking = release_parked(r, context.channels(), context.services())

    readable = total - len(garbage_at)
    assert parking.released["webform"] == readable
    assert parking.waiting["webform"] == {UNREADABLE: len(garbage_at)}
    assert r.lrange(keys.pending_outbound("webform"), 0, -1) == garbage
    assert r.llen(REPLIES) == readable
    assert len(set(r.lrange(REPLIES, 0, -1))) == readable

    again = release_parked(r, context.channels(), context.services())
    assert again.released["webform"] == 0
    assert r.llen(REPLIES) == readable


def test_a_dry_run_counts_a_long_list_and_takes_nothing_off_it(redis_server: RedisServer, settings: Settings) -> None:
    context.configure(settings)
    r = redis_server.client()
    for n in range(PAGE + 7):
        park(r, reply("webform", n), f"key-{n}")

    parking = release_parked(r, context.channels(), context.services(), dry_run=True)

    assert parking.released["webform"] == PAGE + 7
    assert r.llen(keys.pending_outbound("webform")) == PAGE + 7
    assert r.llen(REPLIES) == 0


def test_a_channel_that_is_off_here_is_counted_without_reading_its_list(
    redis_server: RedisServer, settings: Settings
) -> None:
    context.configure(settings)
    assert "email" not in context.channels()
    r = redis_server.client()
    for n in range(3 * PAGE):
        park(r, reply("email", n), f"key-{n}")
    before = lrange_calls(redis_server)

    parking = release_parked(r, context.channels(), context.services())

    assert parking.waiting["email"] == {not_switched_on("email"): 3 * PAGE}
    assert parking.released["email"] == 0
    assert lrange_calls(redis_server) == before  # counted with LLEN: not one entry was read
    assert r.llen(keys.pending_outbound("email")) == 3 * PAGE
    assert r.llen(REPLIES) == 0


def test_the_sweep_drops_a_forgotten_conversations_parked_replies_across_pages_and_reads_no_list_otherwise(
    redis_server: RedisServer, settings: Settings
) -> None:
    r = redis_server.client()
    now = utcnow()
    idle = (now - timedelta(days=settings.retention.days, hours=12)).isoformat()
    r.hset(keys.conversation("conv-old"), mapping={"last_activity": idle})
    r.hset(keys.conversation("conv-new"), mapping={"last_activity": now.isoformat()})
    early = now - timedelta(days=1)  # nothing is idle long enough yet
    before = lrange_calls(redis_server)
    sweep(r, settings, now=early)
    reads_without_parked = lrange_calls(redis_server) - before
    old_at = {0, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE + 9}
    kept = []
    for n in range(2 * PAGE + 10):
        conv = "conv-old" if n in old_at else "conv-new"
        park(r, Reply(conversation=conv, channel="email", recipient="family@example.org", event="received",
                      text=f"#{n}"), f"key-{n}")  # fmt: skip
        if n not in old_at:
            kept.append(f"#{n}")

    before = lrange_calls(redis_server)
    sweep(r, settings, now=early)
    assert lrange_calls(redis_server) - before == reads_without_parked  # the parked list was not read
    assert r.llen(keys.pending_outbound("email")) == 2 * PAGE + 10

    sweep(r, settings, now=now)
    left = [json.loads(raw)["reply"]["text"] for raw in r.lrange(keys.pending_outbound("email"), 0, -1)]
    assert left == kept
    assert not r.exists(keys.conversation("conv-old"))
