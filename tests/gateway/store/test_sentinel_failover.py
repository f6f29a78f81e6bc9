"""Redis Sentinel: the primary killed under load from the web form loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import keys
from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.sentinel import MASTER_NAME, SentinelSet, until

POSTERS = 3
PACE_S = 0.1


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    found = SentinelSet(tmp_path / "sentinel", count=3)
    try:
        found.start()
        yield found
    finally:
        found.stop()


def spool_rows(settings: Settings) -> int:
    path = settings.path_in_data("spool.sqlite3")
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
    finally:
        db.close()


def tickets_by_conversation(settings: Settings) -> Counter[str]:
    db = sqlite3.connect(settings.path_in_data("tickets.sqlite3"))
    try:
        return Counter(row[0] for row in db.execute("SELECT conversation FROM tickets"))
    finally:
        db.close()


class Load:
    """Web form posts from several clients at once, each with its own Idempotency-Key, until told to stop."""

    def __init__(self, gateway: Gateway, settings: Settings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.answers: dict[str, tuple[int, str]] = {}
        self.most_spooled = 0
        self.stop = asyncio.Event()

    def accepted(self) -> int:
        return sum(1 for status, _ in self.answers.values() if status == 202)

    async def post(self, poster: int) -> None:
        n = 0
        while not self.stop.is_set():
            key = f"p{poster}-{n}"
            # Each from its own family: automatic replies to one address are capped, and every one is counted here.
            body = form(message=f"The bus did not come ({key})", email=f"family.{key}@example.org")
            resp = await self.gateway.post_form(body, key=key)
            request_id = (await resp.json()).get("request_id", "") if resp.status == 202 else ""
            self.answers[key] = (resp.status, request_id)
            self.most_spooled = max(self.most_spooled, spool_rows(self.settings))
            n += 1
            await asyncio.sleep(PACE_S)  # steady, and few enough for one worker to deliver in seconds

    async def until_accepted(self, more: int) -> None:
        target = self.accepted() + more
        await asyncio.to_thread(until, lambda: self.accepted() >= target, f"{more} more requests accepted")


async def test_killing_the_primary_under_load_loses_no_acknowledged_request_and_doubles_none(
    tmp_path: Path, sentinels: SentinelSet
) -> None:
    config = write_config(tmp_path, "", redis={"sentinels": sentinels.addresses, "master_name": MASTER_NAME})
    settings = settings_from(config)
    assert settings.redis.replicas_to_wait == 1  # with sentinels every commit waits for the replica
    server, http = await start_gateway(settings)
    load = Load(Gateway(server, http, settings), settings)
    posters = [asyncio.create_task(load.post(i)) for i in range(POSTERS)]
    try:
        await load.until_accepted(20)
        old = await asyncio.to_thread(sentinels.kill_primary)
        await asyncio.to_thread(sentinels.wait_for_failover, old.port)
        await load.until_accepted(10)  # taken while the new primary has no replica: into the spool
        # The old primary's host comes back, as the new primary's replica: WAIT is satisfied again.
        await asyncio.to_thread(sentinels.rejoin, old)
        await asyncio.to_thread(until, lambda: spool_rows(settings) == 0, "the spool drains into the new primary")
        await load.until_accepted(10)
    finally:
        load.stop.set()
        await asyncio.gather(*posters)
        # The last posts may have joined the spool behind a drain: it empties before the process goes.
        await asyncio.to_thread(until, lambda: spool_rows(settings) == 0, "the spool drains")
        await http.close()
        await server.close()

    statuses = Counter(status for status, _ in load.answers.values())
    assert statuses == {202: len(load.answers)}, statuses  # the failover spooled, never refused
    assert load.most_spooled > 0  # the failover was felt: some requests waited in the spool
    assert spool_rows(settings) == 0

    worker = intake(config, "worker", "--burst")
    assert worker.returncode == 0, worker.stderr[-2000:]
    primary = sentinels.primary.client()
    conversations = {
        rid: primary.hget(keys.request(rid), "conversation").decode()  # type: ignore[union-attr]
        for _, rid in load.answers.values()
    }
    tickets = tickets_by_conversation(settings)
    assert sorted(tickets.values()) == [1] * len(load.answers)
    assert set(tickets) == set(conversations.values())
    replies = Counter(
        json.loads(raw)["reply"]["conversation"] for raw in primary.lrange(keys.pending_outbound("email"), 0, -1)
    )
    assert replies == Counter(set(conversations.values()))  # one acknowledgement each, none doubled
