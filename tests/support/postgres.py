"""A real PostgreSQL for the tests: Debian's server binaries, its own data directory, a free port.

The server never runs as root (PostgreSQL refuses to): when the tests run as root it runs as the
`postgres` system user Debian's package creates, with a data directory that user owns under a fresh
temporary directory. It listens on 127.0.0.1 only, on a free port and with no unix socket, so a
PostgreSQL the machine already runs (on 5432) is never touched. fsync is off: these are throwaway
databases, and the machine is shared; the store's own durability is SQLite's and the operator's server's.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support.redis_server import free_port


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the server's programs off PATH, under /usr/lib/postgresql/<major>/bin.
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    assert versions, f"{name} missing: `make test` installs Debian's postgresql package"
    return versions[-1]


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        """`durable`: fsync and synchronous commits as a production server has them (a benchmark's server)."""
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        self._made = 0
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root needs the `postgres` user (Debian's postgresql package)") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._user = "postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self._user, cwd=self.root, timeout=120)

    def start(self) -> None:
        """Start the server (making its data directory the first time) and wait until it takes connections."""
        if not self.data.exists():
            self._run(_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 (the server keeps it for its lifetime)
        self.proc = subprocess.Popen(
            [_binary("postgres"), "-D", str(self.data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", "unix_socket_directories=", "-c", "max_connections=200", *self._speed()],
            stdout=log, stderr=log, user=self._user, cwd=self.root,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'postgres.log').read_text()[-2000:]}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError("postgres did not start within 60 s")

    def _speed(self) -> list[str]:
        if self.durable:
            return []
        return ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def url(self, database: str, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its URL (plain `postgresql://`, as an operator writes DATABASE_URL)."""
        self._made += 1
        name = f"{prefix}_{os.getpid()}_{self._made}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a name we made: digits and our prefix
        return self.url(name)

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop the server; with keep_data, start() brings it back with its databases (an outage, not a loss)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: open connections are ended, not waited for
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if not keep_data:
            shutil.rmtree(self.root, ignore_errors=True)
