"""`intake up` (what `make run` starts): embedded Redis, web and worker in one group; Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis

from gateway.store.redis_conn import check_durability
from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.support.gateway import REPO, TOKEN
from tests.support.redis_server import free_port


def get(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 (loopback only)
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        return int(resp.status), bytes(resp.read())


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_up_runs_the_embedded_default_end_to_end_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    data = tmp_path / "d"
    port = free_port()
    env = {**os.environ, "INTAKE_DATA_DIR": str(data), "PORT": str(port), "INTAKE_WEBFORM_TOKEN": TOKEN}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "--config", str(REPO / "config/gateway.yaml"), "up"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(base + "/healthz")[0] == 200)
        sock = data / "redis" / "redis.sock"
        assert sock.exists()
        durability = check_durability(redis.Redis(unix_socket_path=str(sock)))
        assert (durability.appendonly, durability.appendfsync) == ("yes", "always")

        body = json.dumps({"email": "x@example.org", "category": "devices", "message": "Chromebook won't charge"})
        status, answer = get(
            base + "/hooks/webform",
            body.encode(),
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert status == 202
        status_url = json.loads(answer)["status_url"]
        assert status_url.startswith(base + "/status/")
        tickets = data / "tickets.sqlite3"
        wait_until(lambda: tickets.exists() and TicketStore.open(sqlite_url(tickets)).count() == 1)
        assert get(status_url)[0] == 200
        assert get(base + "/form")[0] == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group at once
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    # Stopped in order: nothing failed for want of Redis on the way out.
    assert "Traceback" not in (out + err).decode(), err.decode()[-2000:]
    assert not (data / "redis" / "redis.sock").exists(), "the embedded Redis is still running"
    leftovers = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
