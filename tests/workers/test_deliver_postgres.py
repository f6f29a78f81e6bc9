"""The worker on PostgreSQL (DATABASE_URL): tickets and follow-ups land there, and an outage loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway.ids import fingerprint
from gateway.models import Commitment, Route
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from gateway.tickets import TicketStore
from tests.support.gateway import intake, settings_from, write_config
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer
from tests.workers.test_deliver import message


async def commit(config: Path, *messages: tuple[str, str]) -> None:
    """Commit (text, conversation) pairs as the web process would."""
    settings = settings_from(config)
    client = async_client(settings)
    for text, conv in messages:
        m = message(text)
        c = Commitment(message=m, fingerprint=fingerprint("webform", "a", m.id, b""), conversation=conv or m.id,
                       route=Route())  # fmt: skip
        await Committer(client, settings).commit([c])
    await client.aclose()


async def test_the_worker_makes_tickets_and_comments_in_postgresql(
    tmp_path: Path, redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"database_url": url}})
    await commit(config, ("The laptop will not turn on.", "conv-1"))
    assert intake(config, "worker", "--burst").returncode == 0
    await commit(config, ("It turns on when plugged in.", "conv-1"))
    assert intake(config, "worker", "--burst").returncode == 0
    store = TicketStore.open(url)
    assert store.count() == 1
    assert [c.body for c in store.details(1).comments] == ["It turns on when plugged in."]
    assert not settings_from(config).path_in_data("tickets.sqlite3").exists()  # nothing went to SQLite
    shown = intake(config, "tickets", "show", "1")
    assert "The laptop will not turn on." in shown.stdout
    store.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, so that stopping it disturbs no other test."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


async def test_a_database_outage_fails_the_job_for_a_retry_and_the_ticket_is_made_once_after(
    tmp_path: Path, redis_server: RedisServer, own_postgres: PostgresServer
) -> None:
    url = own_postgres.create_database()
    TicketStore.open(url).close()  # migrated while up
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"database_url": url}},
                          jobs={"retry_intervals": [0, 0, 0]})  # fmt: skip
    await commit(config, ("The projector is dead.", ""))
    own_postgres.stop(keep_data=True)
    intake(config, "worker", "--burst")
    failed = FailedJobRegistry(queue=Queue("deliver-builtin", connection=redis_server.client(),
                                           serializer=JSONSerializer))  # fmt: skip
    assert failed.get_job_ids() != []  # every try failed while the database was down: dead-lettered, not lost
    own_postgres.start()
    assert intake(config, "replay").returncode == 0
    assert intake(config, "worker", "--burst").returncode == 0
    store = TicketStore.open(url)
    assert store.count() == 1
    store.close()
