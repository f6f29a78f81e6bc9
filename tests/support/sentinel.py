"""A real Redis Sentinel set for a test: a primary, a replica and sentinels, each its own redis-server process on a
free port with its own directory, failing over within a few seconds of the primary's death.

The sentinels are `redis-server --sentinel` (what Debian's redis-sentinel package runs); they rewrite their own
config files, so each gets a writable one in its directory."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.redis_guard import OPEN, Guard
from tests.support.redis_server import RedisServer, free_port

MASTER_NAME = "intake"
DOWN_AFTER_MS = 1000  # the primary is subjectively down after a second without an answer
FAILOVER_TIMEOUT_MS = 3000
DEADLINE_S = 60.0


def until(check: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


# A replica's full sync starts at once: Redis otherwise waits 5 s for more replicas to share the transfer.
FAST_SYNC = ("--repl-diskless-sync-delay", "0")


def replica_of(port: int) -> tuple[str, ...]:
    return ("--replicaof", "127.0.0.1", str(port))


def replica_online(primary: RedisServer) -> bool:
    """The primary has a replica online, acknowledging its writes (what WAIT 1 needs)."""
    info = primary.client().info("replication")
    return int(info.get("connected_slaves", 0)) >= 1 and "online" in str(info.get("slave0", ""))


class Sentinel:
    def __init__(self, directory: Path, monitored_port: int, quorum: int, guard: Guard = OPEN) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.guard = guard
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\nlogfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {monitored_port} {quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n" + guard.sentinel_lines(self.port, MASTER_NAME)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True, **self.guard.sentinel_kwargs())

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server missing: `make system` installs it"
        self.proc = subprocess.Popen([binary, str(self.conf), "--sentinel"], stdout=subprocess.DEVNULL)
        until(lambda: bool(self.client().ping()), "a sentinel answers")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class SentinelSet:
    """Primary + replica + `count` sentinels (quorum: a majority). `primary` is whichever server is primary now."""

    def __init__(self, directory: Path, count: int = 1, guard: Guard = OPEN) -> None:
        """`guard`: what the servers and the sentinels demand of their clients (passwords, TLS); nothing by default."""
        self.guard = guard
        self.servers = [
            RedisServer(directory / name, client_kwargs=guard.server_kwargs()) for name in ("redis-a", "redis-b")
        ]
        self.servers[0].extra_args = self._args(self.servers[0])
        primary_port = self.servers[0].port
        self.servers[1].extra_args = self._args(self.servers[1], *replica_of(primary_port))
        quorum = count // 2 + 1
        self.sentinels = [Sentinel(directory / f"sentinel-{i}", primary_port, quorum, guard) for i in range(count)]

    def _args(self, server: RedisServer, *more: str) -> tuple[str, ...]:
        return (*FAST_SYNC, *more, *self.guard.server_args(server.port))

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def primary_port(self) -> int:
        _host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    @property
    def primary(self) -> RedisServer:
        return self.server(self.primary_port())

    def replica_in_sync(self) -> bool:
        return replica_online(self.primary)

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for sentinel in self.sentinels:
            sentinel.start()
        until(self.replica_in_sync, "the replica is in sync with the primary")
        others = len(self.sentinels) - 1
        for sentinel in self.sentinels:
            c = sentinel.client()
            # A sentinel promotes only a replica it knows, and votes only with the sentinels it has heard from.
            until(lambda c=c: len(c.sentinel_slaves(MASTER_NAME)) == 1, "every sentinel knows the replica")
            until(lambda c=c: len(c.sentinel_sentinels(MASTER_NAME)) == others, "the sentinels know each other")

    def kill_primary(self) -> RedisServer:
        """SIGKILL the primary; returns it (stopped), for `rejoin` once the failover is done."""
        old = self.primary
        old.stop(kill=True)
        return old

    def rejoin(self, old: RedisServer) -> None:
        """The old primary's host comes back, as the new primary's replica, and catches up."""
        old.extra_args = self._args(old, *replica_of(self.primary_port()))
        old.start()
        until(self.replica_in_sync, "the old primary replicates the new one")

    def wait_for_failover(self, old_port: int) -> None:
        until(lambda: self.primary_port() != old_port, "the sentinels promote the replica")
        until(lambda: self.primary.client().info("replication")["role"] == "master", "the replica became primary")

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop(kill=True)
