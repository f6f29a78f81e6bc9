"""A real redis-server for a test: its own port, its own directory, fsync on every write."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        client_kwargs: dict[str, Any] | None = None,
        binary: str | None = None,
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_args = tuple(extra_args)  # more redis-server options, e.g. ("--enable-protected-configs", "yes")
        self.client_kwargs = client_kwargs or {}  # what the test's own clients need: a password, TLS files
        self.binary = binary  # another redis-server than the system's (a newer one)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, **self.client_kwargs)

    def start(self) -> None:
        binary = self.binary or shutil.which("redis-server")
        assert binary, "redis-server missing: `make test` installs it"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", str(self.dir / "redis.log"),
             *self.extra_args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # a Redis that cannot save its snapshot refuses to shut down
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
