"""`intake worker` exits 1 when its loop dies on a fault, so that its supervisor starts a new one.

rq ends its loop by itself after an error it does not handle (above all Redis lost in the middle of a job:
a failover, a crash) and returns as if told to stop. A worker that then exited 0 would be left down by
systemd's Restart=on-failure. The real parts: `intake worker`, a real redis-server stopped for good while
a deliver job runs (held on the ticket store's write lock).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from rq import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually


def lock_tickets(path: Path) -> sqlite3.Connection:
    """Hold the ticket store's write lock: the deliver job waits on it, running."""
    TicketStore.open(sqlite_url(path)).close()
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    return db


async def test_a_worker_whose_redis_goes_away_for_good_in_the_middle_of_a_job_exits_1(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"busy_timeout_ms": 60000}})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form())).status == 202
    finally:
        await http.close()
        await server.close()
    blocker = lock_tickets(settings.path_in_data("tickets.sqlite3"))
    log = tmp_path / "worker.log"
    worker = start_worker(config, log)
    try:
        started = StartedJobRegistry(
            queue=Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
        )
        await eventually(lambda: bool(started.get_job_ids()), "the worker took the deliver job")
        redis_server.stop()  # for good: the job goes on, and everything after it finds no Redis
        blocker.execute("ROLLBACK")
        started_waiting = time.monotonic()
        await eventually(lambda: worker.poll() is not None, "the worker quit", timeout=120)
        print(f"the worker quit {time.monotonic() - started_waiting:.1f} s after Redis went away")
    finally:
        blocker.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == 1, log.read_text()[-3000:]
    assert "worker stopped: its loop died" in log.read_text()
