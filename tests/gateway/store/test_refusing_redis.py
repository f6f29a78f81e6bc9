"""A Redis that refuses writes is an outage like any other: the message is spooled and acknowledged, and
the spool waits while Redis still refuses, then drains once it takes writes again.

Each refusal is made for real on a redis-server: out of memory (`maxmemory` with `noeviction`), a
snapshot that cannot be written, as on a full disk (MISCONF), and a replica after a failover (READONLY).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import Gateway, form
from tests.gateway.store.test_durable_commit import spool_rows, wait_for
from tests.support.redis_server import RedisServer

QUEUE = "rq:queue:deliver-builtin"

Lift = Callable[[], None]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    # `dir` is a protected setting since Redis 7: the failed disk below moves it at run time.
    server = RedisServer(tmp_path / "redis", extra_args=("--enable-protected-configs", "yes"))
    server.start()
    yield server
    server.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def out_of_memory(redis_server: RedisServer, cleanup: ExitStack) -> Lift:
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "noeviction")
    cleanup.callback(admin.config_set, "maxmemory", "0")
    admin.config_set("maxmemory", "1")
    return lambda: admin.config_set("maxmemory", "0")


def failed_disk(redis_server: RedisServer, cleanup: ExitStack) -> Lift:
    """A snapshot that cannot be written makes Redis refuse writes while it has save points (MISCONF)."""
    admin = redis_server.client()
    home = str(redis_server.dir)

    def snapshot(expect: str) -> None:
        admin.bgsave()
        wait_until(lambda: admin.info("persistence")["rdb_bgsave_in_progress"] == 0)
        assert admin.info("persistence")["rdb_last_bgsave_status"] == expect

    # Put back whatever happens: a Redis that cannot write its snapshot will not shut down either.
    cleanup.callback(admin.config_set, "save", "")
    cleanup.callback(admin.config_set, "dir", home)
    admin.config_set("save", "3600 1")
    admin.config_set("dir", "/proc")  # no file can be made here, not even by root
    snapshot("err")

    def lift() -> None:
        admin.config_set("dir", home)
        snapshot("ok")

    return lift


def failover(redis_server: RedisServer, cleanup: ExitStack) -> Lift:
    """Our Redis becomes a replica of another (a failover that promoted it): it takes no more writes."""
    master = RedisServer(redis_server.dir.parent / "new-master")
    master.start()
    cleanup.callback(master.stop)
    admin = redis_server.client()
    cleanup.callback(admin.replicaof, "NO", "ONE")
    admin.replicaof("127.0.0.1", master.port)
    return lambda: admin.replicaof("NO", "ONE")


REFUSALS = {"OOM": out_of_memory, "MISCONF": failed_disk, "READONLY": failover}


def refusals(redis_server: RedisServer, code: str) -> int:
    stat = redis_server.client().info("errorstats").get(f"errorstat_{code}", {"count": 0})
    return int(stat["count"])


@pytest.mark.parametrize("code", sorted(REFUSALS))
async def test_a_redis_refusing_writes_gets_the_spool_not_a_503_and_the_spool_waits_for_it(
    gateway: Gateway, redis_server: RedisServer, code: str
) -> None:
    with ExitStack() as cleanup:
        lift = REFUSALS[code](redis_server, cleanup)
        resp = await gateway.post_form(form(message=f"while Redis answers {code}"), key=f"refused-{code}")
        assert resp.status == 202
        request_id = (await resp.json())["request_id"]
        assert spool_rows(gateway.settings) == 1
        # The drainer has tried again (Redis counted another refusal) and left the row where it was.
        await wait_for(lambda: refusals(redis_server, code) >= 2, timeout=60)
        assert spool_rows(gateway.settings) == 1
        assert redis_server.client().llen(QUEUE) == 0

        retry = await gateway.post_form(form(message=f"while Redis answers {code}"), key=f"refused-{code}")
        assert (retry.status, (await retry.json())["request_id"]) == (202, request_id)

        lift()
        await wait_for(lambda: spool_rows(gateway.settings) == 0, timeout=60)
    client = redis_server.client()
    [job] = client.lrange(QUEUE, 0, -1)
    assert client.hget(f"ig:req:{request_id}", "channel") == b"webform"
    assert job.decode().startswith("deliver-")
