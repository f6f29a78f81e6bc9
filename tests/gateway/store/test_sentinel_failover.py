"""Redis Sentinel: the primary killed under load from the web form loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import keys
from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import settings_from, start_worker, tickets_by_conversation, write_config
from tests.support.sentinel import MASTER_NAME, SentinelSet, until

POSTERS = 2
PACE_S = 0.3


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


class Supervised:
    """A long-running `intake worker`, restarted when it exits, as systemd's Restart=on-failure would."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc = start_worker(config, log)
        self.exits: list[int] = []

    def check(self) -> None:
        code = self.proc.poll()
        if code is not None:
            self.exits.append(code)
            self.proc = start_worker(self.config, self.log)

    def stop(self) -> None:
        self.check()
        self.proc.send_signal(signal.SIGTERM)
        self.exits.append(self.proc.wait(60))


async def test_killing_the_primary_under_load_loses_no_acknowledged_request_and_doubles_none(
    tmp_path: Path, sentinels: SentinelSet
) -> None:
    redis = {"sentinels": sentinels.addresses, "master_name": MASTER_NAME}
    config = write_config(tmp_path, "", redis=redis, logging={"level": "INFO"})  # debug logs slow the worker down
    settings = settings_from(config)
    assert settings.redis.replicas_to_wait == 1  # with sentinels every commit waits for the replica
    worker = Supervised(config, tmp_path / "worker.log")
    server, http = await start_gateway(settings)
    load = Load(Gateway(server, http, settings), settings)
    posters = [asyncio.create_task(load.post(i)) for i in range(POSTERS)]
    try:
        # The worker is at work when the primary dies.
        await asyncio.to_thread(until, lambda: bool(tickets_by_conversation(settings)), "the worker makes a ticket")
        old = await asyncio.to_thread(sentinels.kill_primary)
        await asyncio.to_thread(sentinels.wait_for_failover, old.port)
        await load.until_accepted(4)  # taken while the new primary has no replica: into the spool
        # The old primary's host comes back, as the new primary's replica: WAIT is satisfied again.
        await asyncio.to_thread(sentinels.rejoin, old)
        await asyncio.to_thread(until, lambda: spool_rows(settings) == 0, "the spool drains into the new primary")
        await load.until_accepted(4)
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
    primary = sentinels.primary.client()
    conversations = {
        rid: primary.hget(keys.request(rid), "conversation").decode()  # type: ignore[union-attr]
        for _, rid in load.answers.values()
    }

    def replies() -> Counter[str]:
        parked = primary.lrange(keys.pending_outbound("email"), 0, -1)
        return Counter(json.loads(raw)["reply"]["conversation"] for raw in parked)

    def delivered() -> bool:
        worker.check()
        return sum(tickets_by_conversation(settings).values()) >= len(load.answers) and len(replies()) >= len(
            load.answers
        )

    try:
        await asyncio.to_thread(until, delivered, "the worker delivers every request and its acknowledgement")
    finally:
        worker.stop()
    # A worker may lose its connection mid-job in the failover: then it exits non-zero (its supervisor restarts
    # it), never 0 as if it had been asked to stop. Told to stop (SIGTERM), it exits 0.
    assert all(code != 0 for code in worker.exits[:-1]) and worker.exits[-1] == 0, worker.exits
    tickets = tickets_by_conversation(settings)
    assert sorted(tickets.values()) == [1] * len(load.answers)
    assert set(tickets) == set(conversations.values())
    assert replies() == Counter(set(conversations.values()))  # one acknowledgement each, none doubled


def test_doctor_shows_where_the_sentinels_find_the_primary_its_replica_and_the_quorum(
    tmp_path: Path, sentinels: SentinelSet
) -> None:
    from gateway.cli.doctor import diagnose
    from gateway.store.sentinel_state import sentinel_checks

    config = write_config(tmp_path, "", redis={"sentinels": sentinels.addresses, "master_name": MASTER_NAME})
    found = {c["name"]: c for c in diagnose(settings_from(config))["checks"]}
    primary, replica = sentinels.servers
    assert found["redis"]["ok"]
    assert found["sentinels"]["ok"], found["sentinels"]
    assert f"3 of 3 answered; primary 'intake' at 127.0.0.1:{primary.port}" in found["sentinels"]["detail"]
    assert "quorum 2: OK 3 usable Sentinels" in found["sentinels"]["detail"]
    assert found["replicas"]["ok"], found["replicas"]
    assert f"127.0.0.1:{replica.port} (ok); commits wait for 1 with WAIT" in found["replicas"]["detail"]

    replica.stop(kill=True)
    sentinels.sentinels[2].stop()
    found = {c["name"]: c for c in diagnose(settings_from(config))["checks"]}
    assert not found["sentinels"]["ok"] and f"not answering: {sentinels.addresses[2]}" in found["sentinels"]["detail"]
    # Until the sentinels notice (a second), the replica may still look well: the doctor tells when they do.
    settings = settings_from(config)
    until(lambda: not sentinel_checks(settings)[1][1], "the doctor sees the replica down")
    detail = sentinel_checks(settings)[1][2]
    assert f"127.0.0.1:{replica.port} (down)" in detail and "fewer than 1 healthy" in detail
