"""`intake sync`: status and staff answers polled from a system that sends no webhooks reach the family, from a
checkpoint kept in Redis, by one poller across instances, through failures of any one poll.

The system is a plug-in registered here only (like tests/workers/backends/test_plugin_backend.py), so the sync
loop and the worker run in this process; `intake sync` itself is run as a real command where it can be."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gateway import keys
from gateway.models import Commitment, StatusEvent, TicketStatus
from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from tests.workers.backends.webhook_support import wait_until
from workers import backends, context
from workers.backends.base import BaseBackend, StatusSource
from workers.backends.errors import BackendUnavailable
from workers.status_sync import sync_main

ANSWER = "The new bus stop sign goes up on Monday."


class PolledDesk(BaseBackend):
    """A help desk with no webhooks: changes are read from it by cursor, as RT's and Redmine's are by time."""

    name = "polled"
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"polling"})
    tickets: ClassVar[list[str]] = []
    changes: ClassVar[list[StatusEvent]] = []  # the system's own change log, cursor = index + 1
    asked: ClassVar[list[tuple[str, str]]] = []  # (thread name, checkpoint) of every poll
    failures: ClassVar[list[BaseException]] = []  # raised by the next polls, one each

    @classmethod
    def from_settings(cls, settings: Settings) -> PolledDesk:
        return cls()

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        self.tickets.append(idempotency_key)
        return f"P-{len(self.tickets)}"

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        return idempotency_key

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        return None

    def fetch_status(self, ref: str) -> TicketStatus:
        return TicketStatus.OPEN

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        return None

    def poll_changes(self, checkpoint: str) -> tuple[list[StatusEvent], str]:
        self.asked.append((threading.current_thread().name, checkpoint))
        if self.failures:
            raise self.failures.pop(0)
        start = int(checkpoint or 0)
        return list(self.changes[start:]), str(len(self.changes))


def change(status: str, comment: str | None = None) -> None:
    """A change made in the system by staff, with its journal id."""
    n = len(PolledDesk.changes) + 1
    PolledDesk.changes.append(StatusEvent(backend="polled", ticket_ref="P-1", status=TicketStatus(status),
                                          public_comment=comment, delivery_id=f"journal-{n}"))  # fmt: skip


@pytest.fixture
def polled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(backends.BACKENDS, "polled", PolledDesk)
    for attr in ("tickets", "changes", "asked", "failures"):
        getattr(PolledDesk, attr).clear()
    yield


@pytest.fixture
async def polled_gateway(tmp_path: Path, redis_server: RedisServer, polled: None) -> AsyncIterator[Gateway]:
    config = write_config(tmp_path, redis_server.url, backends={"default": "polled"},
                          sync={"interval_s": 0.2, "backoff_max_s": 1.0})  # fmt: skip
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


class Syncing:
    """`sync_main` on a thread of its own, as one instance of `intake sync`."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.stop = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(settings,), name=name, daemon=True)

    def _run(self, settings: Settings) -> None:
        self.code = sync_main(settings, self.stop)

    def __enter__(self) -> Syncing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def polls(since: int = 0) -> list[tuple[str, str]]:
    return PolledDesk.asked[since:]


def timeline(redis_server: RedisServer, request_id: str) -> list[dict[str, Any]]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    return [json.loads(x) for x in r.lrange(keys.timeline(conv.decode()), 0, -1)]


async def test_a_staff_answer_polled_from_the_system_reaches_the_family_and_the_checkpoint_moves(
    polled_gateway: Gateway, redis_server: RedisServer
) -> None:
    settings = polled_gateway.settings
    rid = (await (await polled_gateway.post_form(form(language="en"))).json())["request_id"]
    work_here(settings)
    context.configure(settings)
    with Syncing(settings, "sync-a"):
        change("open")
        change("open", ANSWER)
        wait_until("both changes are polled", lambda: redis_server.client().get(keys.sync_checkpoint("polled")) == b"2")
    work_here(settings)
    replies = [e for e in timeline(redis_server, rid) if e["event"] == "reply"]
    assert [e["reply_event"] for e in replies] == ["received", "status_changed", "answer"]
    assert replies[-1]["text"] == f"The help desk answered about your request #P-1: {ANSWER}"
    assert [e["comment"] for e in timeline(redis_server, rid) if e["event"] == "answer"] == [ANSWER]
    health = redis_server.client().hgetall(keys.sync_health("polled"))
    assert health[b"failures"] == b"0" and health[b"ok_at"]


async def test_a_restarted_poller_resumes_from_the_checkpoint_and_tells_nothing_twice(
    polled_gateway: Gateway, redis_server: RedisServer
) -> None:
    settings = polled_gateway.settings
    rid = (await (await polled_gateway.post_form(form(language="en"))).json())["request_id"]
    work_here(settings)
    context.configure(settings)
    change("in_progress", "Looking now.")
    with Syncing(settings, "first"):
        wait_until("polled", lambda: redis_server.client().get(keys.sync_checkpoint("polled")) == b"1")
    seen = len(PolledDesk.asked)
    change("resolved", "Fixed.")
    with Syncing(settings, "second"):
        wait_until("polled again", lambda: redis_server.client().get(keys.sync_checkpoint("polled")) == b"2")
    assert polls(seen)[0] == ("second", "1")
    redis_server.client().delete(keys.sync_checkpoint("polled"))  # as if a crash lost the checkpoint: all again
    with Syncing(settings, "third"):
        wait_until("polled from the start", lambda: redis_server.client().get(keys.sync_checkpoint("polled")) == b"2")
    work_here(settings)
    replies = [e["reply_event"] for e in timeline(redis_server, rid) if e["event"] == "reply"]
    assert replies == ["received", "status_changed", "resolved"]


async def test_one_poller_polls_a_system_however_many_instances_run(
    polled_gateway: Gateway, redis_server: RedisServer
) -> None:
    settings = polled_gateway.settings
    context.configure(settings)
    with Syncing(settings, "instance-1"), Syncing(settings, "instance-2"):
        wait_until("a few polls", lambda: len(PolledDesk.asked) >= 8)
    assert len({name for name, _ in PolledDesk.asked}) == 1


async def test_a_failing_poll_is_retried_with_backoff_and_the_loop_goes_on(
    polled_gateway: Gateway, redis_server: RedisServer
) -> None:
    settings = polled_gateway.settings
    context.configure(settings)
    PolledDesk.failures += [BackendUnavailable("polled", "503 down"), RuntimeError("a bug in one answer")] * 2
    with Syncing(settings, "sync") as running:
        wait_until("it recovers", lambda: redis_server.client().hget(keys.sync_health("polled"), "ok_at") is not None)
        assert running.code is None
    health = redis_server.client().hgetall(keys.sync_health("polled"))
    assert health[b"failures"] == b"0" and len(PolledDesk.asked) >= 5


async def test_the_loop_dying_makes_sync_exit_non_zero(polled_gateway: Gateway, redis_server: RedisServer) -> None:
    settings = polled_gateway.settings
    context.configure(settings)
    PolledDesk.failures.append(SystemExit(0))  # a plug-in that calls sys.exit() takes the loop down with it
    with Syncing(settings, "sync") as running:
        running.thread.join(30)
    assert running.code == 1


def test_sync_says_so_when_no_system_is_polled(tmp_path: Path, redis_server: RedisServer) -> None:
    out = intake(write_config(tmp_path, redis_server.url), "sync")
    assert out.returncode == 1
    assert "no enabled ticket system is polled for status" in out.stderr
