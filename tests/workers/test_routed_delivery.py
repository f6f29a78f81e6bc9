"""The rules end to end: real web app, real Redis, real rq worker, real SQLite.

A request is routed on the request path; the worker assigns it, puts its due times on the ticket,
answers with the template the rules chose, and keeps the clocks that /metrics counts as breaches.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage, Route
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from workers import context
from workers.backends.builtin import BuiltinBackend
from workers.routing_stage import plan_ticket

RULES = """
calendars:
  always:
    hours: {mon-sun: "00:00-24:00"}
  never:
    hours: {}
sla_policies:
  standard:
    calendar: always
    urgent: {first_response: 30m, resolution: 4h}
    normal: {first_response: 8h, resolution: 40h}
groups:
  techs: {members: [ana, ben, chen], balance: round_robin}
defaults:
  sla: standard
rules:
  - id: spam
    when: {keywords: [casino]}
    then: {drop: true}
  - id: urgent-words
    when: {keywords: [lockout, locked out]}
    then: {raise_priority: urgent, tags: [urgent]}
    continue: true
  - id: devices
    when: {text_regex: '\\b(chromebook|laptop)\\b'}
    then: {queue: it, assign: techs}
  - id: night
    when: {outside_hours: never, keywords: [printer]}
    then: {reply: after_hours}
"""


@dataclass
class Routed:
    gateway: Gateway
    config: Path
    rules: Path
    settings: Settings
    redis: RedisServer

    def deliver(self) -> None:
        result = intake(self.config, "worker", "--burst")
        assert result.returncode == 0, result.stderr

    async def rules_in_force(self, holds: Callable[[Router], bool]) -> None:
        """Wait until the web app's router holds rules (and closures) for which `holds` is true."""
        await eventually(lambda: holds(self.gateway.router), "the new rules in force")

    def timeline(self, conv: str) -> list[dict[str, str]]:
        return [json.loads(e) for e in self.redis.client().lrange(keys.timeline(conv), 0, -1)]

    async def submit(self, message: str, **fields: object) -> str:
        resp = await self.gateway.post_form(form(message=message, category="other", **fields))
        assert resp.status == 202
        return str((await resp.json())["request_id"])


@pytest.fixture
async def routed(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Routed]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    routing = {"rules_file": str(rules), "reload_interval_s": 0.1, "sla_sweep_interval_s": 0.1}
    config = write_config(tmp_path, redis_server.url, routing=routing)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Routed(Gateway(server, http, settings), config, rules, settings, redis_server)
    await http.close()
    await server.close()


async def test_a_routed_request_becomes_a_ticket_with_its_priority_assignee_and_due_times(routed: Routed) -> None:
    before = datetime.now(UTC)
    rid = await routed.submit("My son's Chromebook says LOCKED OUT.")
    routed.deliver()
    ticket = BuiltinBackend.from_settings(routed.settings).get("1")
    assert (ticket.queue, ticket.priority, ticket.assignee) == ("it", "urgent", "ana")
    assert ticket.rule_ids == ("urgent-words", "devices")
    assert ticket.first_response_due is not None and ticket.resolution_due is not None
    first_due = ticket.first_response_due
    # An always-open calendar: 30 business minutes are 30 minutes from arrival.
    assert before + timedelta(minutes=30) <= first_due <= datetime.now(UTC) + timedelta(minutes=30)
    assert ticket.resolution_due - first_due == timedelta(hours=3, minutes=30)
    ack = routed.timeline(rid)[-1]
    assert ack["event"] == "reply"
    assert "We'll respond by " in ack["text"] or "Le responderemos antes del " in ack["text"]


async def test_round_robin_skips_people_marked_away(routed: Routed) -> None:
    assert intake(routed.config, "staff", "away", "ben").returncode == 0
    for n in range(3):
        await routed.submit(f"Laptop number {n} is broken.")
        routed.deliver()
    store = BuiltinBackend.from_settings(routed.settings)
    assert [store.get(str(i)).assignee for i in (1, 2, 3)] == ["ana", "chen", "ana"]
    listing = intake(routed.config, "staff", "list").stdout
    assert "ben" in listing and "away" in listing
    assert "open 2" in listing  # ana


async def test_a_retried_deliver_job_keeps_its_assignee_and_counts_the_ticket_once(routed: Routed) -> None:
    rid = await routed.submit("Laptop screen cracked.")
    routed.deliver()
    # Plan the same request a second time, as a retried deliver job would.
    context.configure(routed.settings)
    r = context.connection()
    c = Commitment(
        message=InboundMessage(id=rid, channel="webform", account="x", sender="s", text="t"),
        fingerprint="f",
        conversation=rid,
        route=Route(queue="it", assignee_group="techs"),
    )
    assert plan_ticket(r, c, context.rules().current()).route.assignee == "ana"
    assert routed.redis.client().hget(keys.assign_open("techs"), "ana") == b"1"


async def test_the_after_hours_rule_sends_the_after_hours_reply(routed: Routed) -> None:
    rid = await routed.submit("The printer in room 12 is jammed.", language="en")
    routed.deliver()
    ack = routed.timeline(rid)[-1]
    assert ack["event"] == "reply" and ack["reply_event"] == "after_hours"
    assert ack["text"].startswith("We received your request (ticket #1).")
    assert "Our office is closed right now" in ack["text"]


async def test_a_spam_rule_drops_the_request_without_ticket_or_reply(routed: Routed) -> None:
    rid = await routed.submit("Win big at our casino tonight")
    routed.deliver()
    assert BuiltinBackend.from_settings(routed.settings).count() == 0
    events = routed.timeline(rid)
    assert [e["event"] for e in events] == ["received", "dropped"]
    assert events[1]["rules"] == ["spam"]


async def test_a_status_change_stops_the_first_response_clock_and_resolution_stops_the_other(routed: Routed) -> None:
    rid = await routed.submit("Laptop will not charge.")
    routed.deliver()
    client = routed.redis.client()
    clocks = {m.decode().split("|")[0] for m in client.zrange(keys.SLA_DUE, 0, -1)}
    assert clocks == {"first_response", "resolution"}
    assert intake(routed.config, "tickets", "update", "1", "--status", "in_progress").returncode == 0
    routed.deliver()
    assert [m.decode() for m in client.zrange(keys.SLA_DUE, 0, -1)] == [f"resolution|it|normal|{rid}"]
    assert intake(routed.config, "tickets", "update", "1", "--status", "resolved").returncode == 0
    routed.deliver()
    assert client.zcard(keys.SLA_DUE) == 0
    assert client.hget(keys.assign_open("techs"), "ana") == b"0"


async def test_an_overdue_clock_is_counted_once_as_a_breach_in_metrics(routed: Routed) -> None:
    # A request that arrived long ago and was never answered: both its clocks are overdue.
    old = InboundMessage(
        id=new_id(), channel="sms", account="+15550001111", sender="+15557654321", text="Lockout at the front desk",
        received_at=datetime(2026, 1, 5, 15, 0, tzinfo=UTC),
    )  # fmt: skip
    client = async_client(routed.settings)
    decided = Router(routed.settings).route(old)
    commitment = Commitment(
        message=old, fingerprint=fingerprint("sms", "a", old.id, b""), conversation=old.id, route=decided
    )
    await Committer(client, routed.settings).commit([commitment])
    await client.aclose()
    routed.deliver()
    first = 'intake_sla_breaches_total{kind="first_response",priority="urgent",queue="general"} 1.0'
    resolution = 'intake_sla_breaches_total{kind="resolution",priority="urgent",queue="general"} 1.0'

    async def scrape() -> str:
        return await (await routed.gateway.http.get(routed.gateway.base + "/metrics")).text()

    async def counted() -> bool:
        body = await scrape()
        return first in body and resolution in body

    await eventually(counted, "the background sweep counts both overdue clocks")
    # Every later sweep finds nothing more to count, and the scrapes themselves only read.
    client = routed.redis.client()
    await eventually(lambda: client.zcard(keys.SLA_DUE) == 0, "both clocks left the open set")
    for _ in range(2):
        body = await scrape()
        assert first in body and resolution in body


async def test_a_changed_rules_file_is_used_without_a_restart_and_a_broken_one_keeps_the_last_good(
    routed: Routed, caplog: pytest.LogCaptureFixture
) -> None:
    routed.rules.write_text(textwrap.dedent(RULES).replace("queue: it,", "queue: repairs,"))
    await routed.rules_in_force(lambda r: any(rule.actions.queue == "repairs" for rule in r.rules.rules))
    await routed.submit("Laptop hinge broke.")
    routed.rules.write_text(textwrap.dedent(RULES).replace("queue: it,", "queue: [not, a, name],"))
    await eventually(lambda: "the previous rules stay in force" in caplog.text, "the broken file refused")
    await routed.submit("Laptop battery swollen.")
    assert f"{routed.rules}:26: rule 'devices', field then.queue" in caplog.text
    assert "the previous rules stay in force" in caplog.text
    # A new worker refuses the broken file, like a bad config; the requests wait for it in Redis.
    refused = intake(routed.config, "worker", "--burst")
    assert refused.returncode == 2 and "rules.yaml:26: rule 'devices'" in refused.stderr
    routed.rules.write_text(textwrap.dedent(RULES))
    routed.deliver()
    store = BuiltinBackend.from_settings(routed.settings)
    # Both were routed by the web process's rules in force when they arrived: the changed, then the kept ones.
    assert [store.get("1").queue, store.get("2").queue] == ["repairs", "repairs"]


async def test_a_closure_declared_by_command_switches_the_reply(routed: Routed) -> None:
    snow = textwrap.dedent(RULES).replace(
        "rules:\n", "rules:\n  - id: snow-day\n    when: {during_closure: true}\n    then: {reply: after_hours}\n", 1
    )
    routed.rules.write_text(snow)
    result = intake(routed.config, "calendar", "close", "--today", "--reason", "Snow day")
    assert result.returncode == 0 and "Snow day" in result.stdout
    await routed.rules_in_force(lambda r: bool(r.closures) and any(rule.id == "snow-day" for rule in r.rules.rules))
    rid = await routed.submit("Is school open tomorrow?")
    routed.deliver()
    assert routed.timeline(rid)[-1]["reply_event"] == "after_hours"
    listing = intake(routed.config, "calendar", "list").stdout
    assert "Snow day" in listing
    assert intake(routed.config, "calendar", "open", "--today").returncode == 0
    assert "closures: none" in intake(routed.config, "calendar", "list").stdout


async def test_a_closure_declared_after_a_ticket_was_made_moves_its_due_times(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """
            calendars:
              office: {hours: {mon-fri: "08:00-16:00"}}
            sla_policies:
              standard: {calendar: office, normal: {first_response: 4h, resolution: 16h}}
            defaults: {sla: standard}
            """
        )
    )
    config = write_config(tmp_path, redis_server.url, timezone="UTC", routing={"rules_file": str(rules)})
    settings = settings_from(config)
    # Arrived Monday 2027-02-01 at 14:00: first response due Tuesday 10:00 (2 hours Monday, 2 Tuesday).
    m = InboundMessage(id=new_id(), channel="sms", account="a", sender="+15550001", text="Bus stop moved?",
                       received_at=datetime(2027, 2, 1, 14, 0, tzinfo=UTC))  # fmt: skip
    client = async_client(settings)
    route = Router(settings).route(m)
    await Committer(client, settings).commit(
        [Commitment(message=m, fingerprint=fingerprint("sms", "a", m.id, b""), conversation=m.id, route=route)]
    )
    await client.aclose()
    assert intake(config, "worker", "--burst").returncode == 0
    store = BuiltinBackend.from_settings(settings)
    assert store.get("1").first_response_due == datetime(2027, 2, 2, 10, 0, tzinfo=UTC)

    # Tuesday is declared a snow day: the clock stops for it and the response is due Wednesday 10:00.
    result = intake(config, "calendar", "close", "--date", "2027-02-02", "--reason", "Snow day")
    assert result.returncode == 0 and "2 open response clock(s) moved" in result.stdout
    assert store.get("1").first_response_due == datetime(2027, 2, 3, 10, 0, tzinfo=UTC)
    due = redis_server.client().zscore(keys.SLA_DUE, f"first_response|general|normal|{m.id}")
    assert due == datetime(2027, 2, 3, 10, 0, tzinfo=UTC).timestamp()

    assert intake(config, "calendar", "open", "--date", "2027-02-02").returncode == 0
    assert store.get("1").first_response_due == datetime(2027, 2, 2, 10, 0, tzinfo=UTC)
