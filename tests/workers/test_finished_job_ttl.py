"""A finished job is forgotten after `jobs.result_ttl_s`: its hash (the request it carried) and its result.

rq keeps both for 500 s by default, and nothing of ours reads a finished job's result (only a dead letter's
error, for `intake doctor` and `intake replay`): under a steady load they were most of Redis's memory.
"""

from __future__ import annotations

from pathlib import Path

from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

TTL_S = 2


def job_keys(redis_server: RedisServer) -> list[str]:
    r = redis_server.client()
    return sorted(k.decode() for pattern in ("rq:job:*", "rq:results:*") for k in r.scan_iter(match=pattern))


async def test_a_finished_jobs_record_and_result_are_gone_after_the_result_ttl(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url, jobs={"result_ttl_s": TTL_S})
    server, http = await start_gateway(settings_from(config))
    gateway = Gateway(server, http, settings_from(config))
    try:
        assert (await gateway.post_form(form())).status == 202
    finally:
        await http.close()
        await server.close()
    worked = intake(config, "worker", "--burst")
    assert worked.returncode == 0, worked.stderr[-2000:]
    assert TicketStore.open(sqlite_url(settings_from(config).path_in_data("tickets.sqlite3"))).count() == 1
    r = redis_server.client()
    # Each finished job (the deliver job and the acknowledgement it queued) expires in TTL_S, not in rq's 500 s.
    assert all(r.ttl(k) <= TTL_S for k in job_keys(redis_server))
    await eventually(lambda: job_keys(redis_server) == [], "the finished jobs' keys expired", timeout=30)
