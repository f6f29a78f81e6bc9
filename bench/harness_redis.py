"""The redis-server a benchmark starts for itself: durable like production (appendonly yes, appendfsync always),
no RDB snapshots, in the bench's own directory, and what a bench reads back from it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.harness import BenchError, free_port, running, tail
from bench.harness_cpu import pinned

DEDUPE_PATTERN = "ig:dedupe:*"


def deliver_queue(backend: str = "builtin") -> str:
    """The backend's deliver queue. No worker runs during the benches, so every committed message stays on it."""
    return f"rq:queue:deliver-{backend}"


@dataclass
class RedisInfo:
    url: str
    pid: int
    version: str
    appendonly: str
    appendfsync: str


@contextmanager
def redis_server(
    directory: Path,
    transport: str,
    cpu: int | None,
    aof_rewrite: bool = True,  # Redis's default
    binary: str | None = None,  # another redis-server than the system's
) -> Iterator[tuple[redis.Redis, RedisInfo]]:
    """`transport` "unix" (a socket in `directory`, like the embedded Redis) or "tcp" (a free port on 127.0.0.1)."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is missing: `make bench` installs it (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    if transport == "unix":
        listen = ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}?db=0"
    else:
        port = free_port()
        listen = ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    cmd = [binary, *listen, "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always",
           "--save", "", "--logfile", str(directory / "redis.log")]  # fmt: skip
    if not aof_rewrite:
        cmd += ["--auto-aof-rewrite-percentage", "0"]
    log = directory / "redis.stdout"
    with running(pinned(cmd, cpu), log) as proc:
        client = redis.Redis.from_url(url, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise BenchError(f"redis-server exited with {proc.returncode}:\n{tail(directory / 'redis.log')}")
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise BenchError("redis-server did not answer PING within 10s") from None
                time.sleep(0.02)
        conf = {_text(k): _text(v) for k, v in client.config_get("append*").items()}
        version = str(client.info("server").get("redis_version", "?"))
        info = RedisInfo(url, proc.pid, version, conf.get("appendonly", "?"), conf.get("appendfsync", "?"))
        try:
            yield client, info
        finally:
            client.close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_forks(client: redis.Redis) -> int:
    """Forks so far (an AOF rewrite is one): each copies the whole dataset on Redis's core."""
    return int(client.info("stats").get("total_forks", 0))


def count_keys(client: redis.Redis, pattern: str = DEDUPE_PATTERN) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=10_000))
