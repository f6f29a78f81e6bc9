"""Workers die and backends fail: every job is retried or dead-lettered, never gone, never doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer


def lock_tickets(path: Path) -> sqlite3.Connection:
    """Hold the ticket store's write lock: the backend is 'down' until the test lets go."""
    TicketStore.open(sqlite_url(path)).close()  # make sure the schema exists first
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    return db


def deliver_queue(redis_server: RedisServer) -> Queue:
    return Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)


async def test_worker_killed_mid_job_the_job_is_retried_and_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, gateway: Gateway
) -> None:
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"busy_timeout_ms": 30000}})
    settings = settings_from(config)
    tickets = settings.path_in_data("tickets.sqlite3")
    assert (await gateway.post_form(form(), key="kill-me")).status == 202
    blocker = lock_tickets(tickets)
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        started = StartedJobRegistry(queue=deliver_queue(redis_server))
        deadline = time.monotonic() + 20
        while not started.get_job_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.get_job_ids(), "the worker never picked the job up"
        os.killpg(worker.pid, signal.SIGKILL)  # the worker (jobs run in its own process), mid-job
        worker.wait(10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert TicketStore.open(sqlite_url(tickets)).count() == 0

    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    assert TicketStore.open(sqlite_url(tickets)).count() == 1
    assert FailedJobRegistry(queue=deliver_queue(redis_server)).get_job_ids() == []


async def test_failing_backend_retries_then_dead_letters_then_replay_makes_the_ticket(
    tmp_path: Path, redis_server: RedisServer, gateway: Gateway
) -> None:
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"busy_timeout_ms": 50}})
    settings = settings_from(config)
    tickets = settings.path_in_data("tickets.sqlite3")
    assert (await gateway.post_form(form(), key="backend-down")).status == 202

    blocker = lock_tickets(tickets)
    try:
        result = intake(config, "worker", "--burst")
        assert result.returncode == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    failed = FailedJobRegistry(queue=deliver_queue(redis_server))
    assert len(failed.get_job_ids()) == 1
    # Three tries in all: the first and the two retries of retry_intervals [0, 0].
    assert result.stderr.count("deliver request") >= 3
    doctor = intake(config, "doctor")
    assert doctor.returncode == 1
    assert "1 job(s) failed every try" in doctor.stdout
    assert TicketStore.open(sqlite_url(tickets)).count() == 0

    replay = intake(config, "replay")
    assert replay.returncode == 0
    assert "replayed 1 job(s)" in replay.stdout
    assert intake(config, "worker", "--burst").returncode == 0
    assert TicketStore.open(sqlite_url(tickets)).count() == 1
    assert failed.get_job_ids() == []


async def test_a_failed_job_waits_for_its_backoff_before_the_next_try(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(
        tmp_path, redis_server.url, backends={"builtin": {"busy_timeout_ms": 50}}, jobs={"retry_intervals": [600]}
    )
    settings = settings_from(config)
    tickets = settings.path_in_data("tickets.sqlite3")
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form(), key="backoff")).status == 202
    finally:
        await http.close()
        await server.close()
    blocker = lock_tickets(tickets)
    try:
        assert intake(config, "worker", "--burst").returncode == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    scheduled = ScheduledJobRegistry(queue=deliver_queue(redis_server))
    assert len(scheduled.get_job_ids()) == 1
    assert FailedJobRegistry(queue=deliver_queue(redis_server)).get_job_ids() == []


async def test_running_a_delivered_job_again_does_not_make_a_second_ticket(
    config_path: Path, redis_server: RedisServer, gateway: Gateway
) -> None:
    assert (await gateway.post_form(form(), key="twice")).status == 202
    assert intake(config_path, "worker", "--burst").returncode == 0
    q = deliver_queue(redis_server)
    job_id = q.finished_job_registry.get_job_ids()[0]
    job = q.fetch_job(job_id)
    assert job is not None
    q.enqueue_job(job)  # as if a retry ran a job whose first run had in fact succeeded
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert TicketStore.from_settings(gateway.settings).count() == 1


def kill_under_the_job(config: Path, log: Path, deliver: Queue) -> str:
    """Start a worker, wait until it holds the (blocked) job, and SIGKILL it there. Returns the job's id."""
    started = StartedJobRegistry(queue=deliver)
    before = set(started.get_job_and_execution_ids(cleanup=False))  # the last killed worker's entry, if any
    worker = start_worker(config, log)
    deadline = time.monotonic() + 60
    # Held: in the started registry and marked started (a worker killed between the two leaves a job that never
    # ran, which the next one puts back without counting a loss: workers/runner.py).
    while not (held := set(started.get_job_and_execution_ids(cleanup=False)) - before) or any(
        deliver.connection.hget(f"rq:job:{job_id}", "status") != b"started" for job_id, _ in held
    ):
        assert time.monotonic() < deadline, "the worker never picked the job up"
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(30)
    return held.pop()[0]


async def test_a_worker_killed_under_a_job_spends_none_of_its_tries_until_the_job_has_killed_too_many(
    tmp_path: Path, redis_server: RedisServer, gateway: Gateway
) -> None:
    """A deploy or a kill is no failure of the job: it keeps its tries (the tests' two) through `jobs.abandonments`
    (here 3) losses. A job that goes on taking its workers down then spends them, and is dead-lettered."""
    config = write_config(
        tmp_path, redis_server.url, jobs={"retry_intervals": [0, 0], "abandonments": 3},
        backends={"builtin": {"busy_timeout_ms": 60000}},
    )  # fmt: skip
    tickets = settings_from(config).path_in_data("tickets.sqlite3")
    assert (await gateway.post_form(form(), key="killed-under")).status == 202
    deliver = deliver_queue(redis_server)
    blocker = lock_tickets(tickets)
    try:
        seen = []  # (tries left, losses counted) as each kill found the job; a loss counts when the next worker starts
        for _ in range(6):
            job_id = kill_under_the_job(config, tmp_path / "worker.log", deliver)
            job = Job.fetch(job_id, connection=deliver.connection, serializer=JSONSerializer)
            seen.append((job.retries_left, job.meta.get("abandoned", 0)))
        # Three losses cost nothing; the fourth and fifth spend the two tries.
        assert seen == [(2, 0), (2, 1), (2, 2), (2, 3), (1, 4), (0, 5)]
        failed = FailedJobRegistry(queue=deliver)
        reaper = start_worker(config, tmp_path / "worker.log")  # finds the sixth loss at its start: no try is left
        try:
            deadline = time.monotonic() + 60
            while not failed.get_job_ids() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.killpg(reaper.pid, signal.SIGKILL)
            reaper.wait(30)
        assert failed.get_job_ids() == [job_id]
        assert Job.fetch(job_id, connection=deliver.connection, serializer=JSONSerializer).meta["abandoned"] == 6
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert TicketStore.open(sqlite_url(tickets)).count() == 0
