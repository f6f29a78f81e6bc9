"""A resolved ticket opened again runs its resolution clock again, from the reopening: at the desk (real web app, real
rq workers, real Redis and SQLite) and from a ticket system's status sync (`sync_main` polling a plug-in, the worker
in this process). Time passes for the breach sweep by sweeping as it would run later, never by waiting."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage, Priority, StatusEvent, TicketStatus, utcnow
from gateway.routing.router import Router
from gateway.routing.sla import due_times, sweep_breaches
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client, text
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from tests.workers.backends.webhook_support import wait_until
from tests.workers.test_desk_actions import RULES, Desk, desk
from tests.workers.test_status_sync import PolledDesk, Syncing, polled
from workers import context

__all__ = ["desk", "polled"]  # fixtures shared with their own tests

RESOLUTION = timedelta(hours=40)  # the `standard` policy's target for `normal`, on a calendar that never closes


def reopened_entries(desk: Desk) -> list[dict[str, object]]:
    return [e.details | {"actor": e.actor} for e in desk.store.audit_log(ref=1) if e.action == "sla_clock_restarted"]


async def test_a_ticket_reopened_at_the_desk_runs_its_resolution_clock_from_the_reopening_until_resolved_again(
    desk: Desk,
) -> None:
    conv = await desk.request("The bus did not come this morning.")
    first_due = desk.store.get(1).resolution_due
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    assert desk.clocks() == {}
    reopening = desk.service.set_status(1, TicketStatus.OPEN, "ben", comment="The bus was late again today.")
    desk.work()
    due = reopening.at + RESOLUTION
    ticket = desk.store.get(1)
    assert (ticket.status, ticket.resolution_due, ticket.next_due) == ("open", due, due)
    assert ticket.first_response_at is not None  # the first response given stays history: no clock for it again
    assert desk.clocks() == {f"resolution|transportation|normal|{conv}": due.timestamp()}
    assert reopened_entries(desk) == [{"actor": "ben", "clock": "resolution", "was_due": first_due.isoformat(),  # type: ignore[union-attr]
                                       "due": due.isoformat()}]  # fmt: skip
    desk.service.set_status(1, TicketStatus.IN_PROGRESS, "ben")
    desk.work()  # open to in progress reopens nothing: the same clock runs on
    assert desk.clocks() == {f"resolution|transportation|normal|{conv}": due.timestamp()}
    await desk.sweep(at=due - timedelta(minutes=1))
    assert desk.hash(keys.SLA_BREACHES) == {}
    await desk.sweep(at=due + timedelta(minutes=1))
    assert desk.hash(keys.SLA_BREACHES) == {"transportation|normal|resolution": 1}
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    assert desk.clocks() == {} and desk.redis.client().hlen(keys.SLA_BREACHED) == 0
    assert desk.store.get(1).next_due is None


async def test_a_ticket_reopened_twice_has_one_clock_due_from_its_latest_reopening_under_its_priority_now(
    desk: Desk,
) -> None:
    conv = await desk.request("The bus did not come this morning.")
    for _ in range(2):
        desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
        desk.work()
        desk.service.update_fields(1, "ana", priority="urgent")  # given while resolved: the reopening uses it
        latest = desk.service.set_status(1, TicketStatus.OPEN, "ben")
        desk.work()
    due = latest.at + timedelta(hours=8)  # urgent: resolution in 8 h
    assert desk.clocks() == {f"resolution|transportation|urgent|{conv}": due.timestamp()}
    assert desk.store.get(1).resolution_due == due
    assert len(reopened_entries(desk)) == 2


async def test_a_new_priority_after_the_reopening_moves_the_clock_from_the_reopening_not_the_arrival(
    desk: Desk,
) -> None:
    conv = await desk.request("The bus did not come this morning.")
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    reopening = desk.service.set_status(1, TicketStatus.OPEN, "ben")
    desk.work()
    desk.service.update_fields(1, "ana", priority="low")
    due = reopening.at + timedelta(hours=80)  # low: resolution in 80 h
    assert desk.store.get(1).resolution_due == due
    assert desk.clocks() == {f"resolution|transportation|low|{conv}": due.timestamp()}


async def test_a_closure_declared_after_the_reopening_moves_the_clock_from_the_reopening_not_the_arrival(
    desk: Desk,
) -> None:
    conv = await desk.request("The bus did not come this morning.")
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    reopening = desk.service.set_status(1, TicketStatus.OPEN, "ben")
    desk.work()
    tomorrow = (reopening.at.astimezone(desk.settings.zone) + timedelta(days=1)).date()
    result = intake(desk.config, "calendar", "close", "--date", tomorrow.isoformat(), "--reason", "Snow day")
    assert result.returncode == 0 and "1 open response clock(s) moved" in result.stdout
    due = due_times(Router(desk.settings).rules, "standard", Priority.NORMAL, "transportation", reopening.at,
                    {tomorrow}).resolution  # fmt: skip
    assert due is not None and due - reopening.at > RESOLUTION  # the closed day does not count
    assert desk.store.get(1).resolution_due == due
    assert desk.clocks() == {f"resolution|transportation|normal|{conv}": due.timestamp()}


async def test_an_urgent_follow_up_leaves_the_clocks_under_the_tickets_priority_so_the_resolution_stops_them(
    desk: Desk,
) -> None:
    """The clocks are named by the conversation's priority: a follow-up that rewrote it would strand them to breach."""
    conv = await desk.request("The bus did not come this morning.")
    before = desk.clocks()
    assert set(before) == {f"first_response|transportation|normal|{conv}", f"resolution|transportation|normal|{conv}"}
    later = InboundMessage(id=new_id(), channel="web", account="form", sender="parent@example.org",
                           text="Still no bus, my child is stranded at the stop.", received_at=utcnow())  # fmt: skip
    route = Router(desk.settings).route(later)
    urgent = route.model_copy(update={"priority": Priority.URGENT})
    client = async_client(desk.settings)
    fp = fingerprint("web", "f", later.id, b"")
    await Committer(client, desk.settings).commit([Commitment(message=later, fingerprint=fp, conversation=conv,
                                                              route=urgent)])  # fmt: skip
    await client.aclose()
    desk.work()
    details = desk.store.details(1)
    assert [c.body for c in details.comments] == ["Still no bus, my child is stranded at the stop."]
    assert desk.store.count() == 1  # threaded: a comment on the ticket, not a ticket of its own
    assert desk.clocks() == before
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    assert desk.clocks() == {}
    assert desk.redis.client().hlen(keys.SLA_BREACHED) == 0


@pytest.fixture
async def polled_gateway(tmp_path: Path, redis_server: RedisServer, polled: None) -> AsyncIterator[Gateway]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    sync = {"interval_s": 0.2, "backoff_max_s": 1.0}
    config = write_config(tmp_path, redis_server.url, backends={"default": "polled"},
                          routing={"rules_file": str(rules)}, sync=sync)  # fmt: skip
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


def sync_changes(settings: Settings, redis_server: RedisServer, *changes: tuple[str, datetime]) -> None:
    """Staff change the ticket in their system; one `intake sync` polls the changes and the worker handles them."""
    for status, at in changes:
        n = len(PolledDesk.changes) + 1
        PolledDesk.changes.append(StatusEvent(backend="polled", ticket_ref="P-1", status=TicketStatus(status), at=at,
                                              delivery_id=f"journal-{n}"))  # fmt: skip
    with Syncing(settings, "sync"):
        done = str(len(PolledDesk.changes)).encode()
        wait_until("the changes are polled", lambda: redis_server.client().get(keys.sync_checkpoint("polled")) == done)
    work_here(settings)


def clocks(redis_server: RedisServer) -> dict[str, float]:
    return {text(m): s for m, s in redis_server.client().zrange(keys.SLA_DUE, 0, -1, withscores=True)}


async def test_a_ticket_reopened_in_its_ticket_system_runs_its_resolution_clock_again_through_the_status_sync(
    polled_gateway: Gateway, redis_server: RedisServer
) -> None:
    settings = polled_gateway.settings
    rid = (await (await polled_gateway.post_form(form(message="The bus did not come.", language="en"))).json())[
        "request_id"
    ]
    work_here(settings)
    context.configure(settings)
    conv = text(redis_server.client().hget(keys.request(rid), "conversation"))  # type: ignore[arg-type]
    queue = text(redis_server.client().hget(keys.conversation(conv), "queue"))  # type: ignore[arg-type]
    assert sorted(m.split("|")[0] for m in clocks(redis_server)) == ["first_response", "resolution"]
    reopened_at = utcnow() - timedelta(hours=1)
    sync_changes(settings, redis_server, ("resolved", reopened_at - timedelta(hours=1)), ("open", reopened_at))
    due = reopened_at + RESOLUTION
    assert clocks(redis_server) == {f"resolution|{queue}|normal|{conv}": due.timestamp()}
    client = async_client(settings)
    await sweep_breaches(client, due + timedelta(minutes=1))
    assert {text(k): int(v) for k, v in (await client.hgetall(keys.SLA_BREACHES)).items()} == {
        f"{queue}|normal|resolution": 1
    }
    await client.aclose()
    sync_changes(settings, redis_server, ("closed", utcnow()))
    assert clocks(redis_server) == {} and redis_server.client().hlen(keys.SLA_BREACHED) == 0


async def test_a_reopened_ticket_counts_again_among_its_assignees_open_tickets_once(desk: Desk) -> None:
    """The fewest_open balancer counts a person's open tickets: a resolution takes the ticket off, a reopening puts
    it back (once, however often the event comes), a second resolution takes it off again."""
    await desk.request("My laptop will not start.")
    r = desk.redis.client()

    def anas() -> bytes | None:
        return r.hget(keys.assign_open("techs"), "ana")

    assert desk.store.get(1).assignee == "ana" and anas() == b"1"
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    assert anas() == b"0"
    desk.service.set_status(1, TicketStatus.OPEN, "ben")
    desk.work()
    assert anas() == b"1"
    desk.service.set_status(1, TicketStatus.IN_PROGRESS, "ana")  # open to in progress is no reopening
    desk.work()
    assert anas() == b"1"
    desk.service.set_status(1, TicketStatus.CLOSED, "ana")
    desk.work()
    assert anas() == b"0"
