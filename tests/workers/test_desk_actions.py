"""Staff's ticket actions (workers/desk_actions): the store's write, and the family told on their channel only when
they must be: real web app, real Redis, real SQLite, and real rq workers (`intake worker --burst`) that send.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.incidents.match import build_criteria
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import Commitment, InboundMessage, Reply, StatusEvent, TicketStatus, utcnow
from gateway.routing.router import Router
from gateway.routing.sla import sweep_breaches
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.queues import EVENTS_QUEUE, REPLIES_QUEUE, publish_status_events
from gateway.store.redis_conn import async_client, text
from gateway.tickets import MergeRefused, NewTicket, TicketStore, UnknownTicket
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, session_headers
from workers.desk_actions import DeskService, UnknownIncident

RULES = """
calendars:
  always:
    hours: {mon-sun: "00:00-24:00"}
sla_policies:
  standard:
    calendar: always
    low: {first_response: 16h, resolution: 80h}
    normal: {first_response: 8h, resolution: 40h}
    urgent: {first_response: 1h, resolution: 8h}
defaults:
  sla: standard
groups:
  techs: {members: [ana, ben, chen], balance: fewest_open}
rules:
  - id: devices
    when: {text_regex: '\\b(chromebook|laptop)\\b'}
    then: {queue: it, category: devices, assign: techs}
"""


@dataclass
class Desk:
    gateway: Gateway
    config: Path
    settings: Settings
    redis: RedisServer
    store: TicketStore
    service: DeskService

    async def request(self, message: str, **fields: object) -> str:
        """A family's request through the web form, made into a ticket by a real worker; its conversation id."""
        resp = await self.gateway.post_form(form(message=message, language="en", **fields))
        assert resp.status == 202
        self.work()
        return str((await resp.json())["request_id"])

    async def arrived(self, hours_ago: int) -> tuple[str, datetime]:
        """A text that arrived `hours_ago` hours ago (delivered late, say), made into a ticket: its conversation and
        when it arrived (when its clocks started)."""
        at = utcnow() - timedelta(hours=hours_ago)
        old = InboundMessage(id=new_id(), channel="sms", account="+15550001111", sender="+15557654321",
                             text="The bus did not come.", received_at=at)  # fmt: skip
        route = Router(self.settings).route(old)
        fp = fingerprint("sms", "a", old.id, b"")
        client = async_client(self.settings)
        await Committer(client, self.settings).commit([Commitment(message=old, fingerprint=fp, conversation=old.id,
                                                                  route=route)])  # fmt: skip
        await client.aclose()
        self.work()
        return old.id, at

    async def sweep(self, at: datetime | None = None) -> None:
        """The breach sweep every web process runs, now (or as it would run `at`: time passing without a wait)."""
        client = async_client(self.settings)
        await sweep_breaches(client, at or utcnow())
        await client.aclose()

    def hash(self, key: str) -> dict[str, int]:
        return {text(k): int(v) for k, v in self.redis.client().hgetall(key).items()}

    def clocks(self) -> dict[str, float]:
        return {text(m): s for m, s in self.redis.client().zrange(keys.SLA_DUE, 0, -1, withscores=True)}

    def work(self) -> None:
        result = intake(self.config, "worker", "--burst")
        assert result.returncode == 0, result.stderr

    def told(self, conv: str) -> list[dict[str, str]]:
        """What the family was sent on the status page (the web form's own channel)."""
        entries = [json.loads(e) for e in self.redis.client().lrange(keys.timeline(conv), 0, -1)]
        return [e for e in entries if e["event"] == "reply"]

    def emailed(self) -> list[Reply]:
        """Replies waiting for the email channel (not switched on here): each one the family would be mailed."""
        parked = self.redis.client().lrange(keys.pending_outbound("email"), 0, -1)
        return [Reply.model_validate(json.loads(r)["reply"]) for r in parked]

    def jobs(self, queue: str) -> int:
        return int(self.redis.client().llen(f"rq:queue:{queue}"))


@pytest.fixture
async def desk(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Desk]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    config = write_config(tmp_path, redis_server.url, routing={"rules_file": str(rules)})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    store = TicketStore.from_settings(settings)
    service = DeskService(store, settings, redis_server.client())
    yield Desk(Gateway(server, http, settings), config, settings, redis_server, store, service)
    store.close()
    await http.close()
    await server.close()


async def test_a_public_reply_reaches_the_family_on_their_channel_once_and_is_stored_once(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    assert len(desk.told(conv)) == 1  # the acknowledgement
    comment = desk.service.reply(1, "The driver was sick; a substitute comes tomorrow.", "ana")
    assert desk.jobs(EVENTS_QUEUE) == 1
    desk.work()
    desk.work()  # a second worker run finds nothing more to tell
    answer = desk.told(conv)[-1]
    assert len(desk.told(conv)) == 2
    assert (
        answer["text"]
        == "The help desk answered about your request #1: The driver was sick; a substitute comes tomorrow."
    )
    [mail] = [r for r in desk.emailed() if r.event == "answer"]
    assert mail.recipient == "ana.perez@example.org"
    details = desk.store.details(1)
    assert [(c.id, c.body, c.public, c.author) for c in details.comments] == [
        (comment, "The driver was sick; a substitute comes tomorrow.", True, "ana")
    ]
    assert details.ticket.status == "new" and details.ticket.first_response_at is not None


async def test_publishing_a_replys_event_again_tells_the_family_nothing_more(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    comment = desk.service.reply(1, "A substitute driver comes tomorrow.", "ana")
    desk.work()
    # The same reply's event again (a retried publish): it is named by the comment, so it is the same event.
    again = desk.store.get(1)
    event = StatusEvent(backend="builtin", ticket_ref="1", status=TicketStatus(again.status),
                        public_comment="A substitute driver comes tomorrow.", actor="ana",
                        delivery_id=f"desk-comment-{comment}")  # fmt: skip
    publish_status_events(desk.redis.client(), desk.settings, [event])
    desk.work()
    assert [e["text"].endswith("A substitute driver comes tomorrow.") for e in desk.told(conv)] == [False, True]
    assert len([r for r in desk.emailed() if r.event == "answer"]) == 1
    assert len(desk.store.details(1).comments) == 1


async def test_a_reply_stops_the_first_response_clock_and_a_note_does_not(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")

    def clocks() -> list[str]:
        return sorted(text(m).split("|")[0] for m in desk.redis.client().zrange(keys.SLA_DUE, 0, -1))

    assert clocks() == ["first_response", "resolution"]
    desk.service.note(1, "Called the depot.", "ben")
    desk.work()
    assert clocks() == ["first_response", "resolution"]
    desk.service.reply(1, "A substitute driver comes tomorrow.", "ben")
    desk.work()
    assert clocks() == ["resolution"]
    assert desk.redis.client().zrange(keys.SLA_DUE, 0, -1) == [f"resolution|transportation|normal|{conv}".encode()]


async def test_an_internal_note_never_leaves(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    told, emailed = desk.told(conv), desk.emailed()
    note = desk.service.note(1, "Called the depot: driver out sick.", "ben")
    assert desk.jobs(EVENTS_QUEUE) == 0 and desk.jobs(REPLIES_QUEUE) == 0
    desk.work()
    assert desk.told(conv) == told and desk.emailed() == emailed
    [c] = desk.store.details(1).comments
    assert (c.id, c.public, c.author) == (note, False, "ben")
    assert desk.store.get(1).first_response_at is None  # a note is no answer to the family


async def test_a_status_change_tells_the_family_and_stores_its_comment_once(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    event = desk.service.set_status(1, "in_progress", "chen", comment="We are on it.")
    assert (event.status, event.public_comment, event.ticket_ref) == (TicketStatus.IN_PROGRESS, "We are on it.", "1")
    desk.work()
    assert desk.told(conv)[-1]["text"] == "Your request #1 is now being worked on. We are on it."
    assert len(desk.told(conv)) == 2
    assert [c.body for c in desk.store.details(1).comments] == ["We are on it."]
    assert desk.redis.client().hget(keys.conversation(conv), "status") == b"in_progress"


async def test_an_unknown_ticket_is_refused_before_anything_is_published(desk: Desk) -> None:
    with pytest.raises(UnknownTicket):
        desk.service.reply(99, "Hello", "ana")
    with pytest.raises(UnknownTicket):
        desk.service.set_status(99, "resolved", "ana")
    assert desk.jobs(EVENTS_QUEUE) == 0


async def test_assigning_by_hand_moves_the_balancers_count_with_the_ticket(desk: Desk) -> None:
    await desk.request("My laptop will not start.")
    r = desk.redis.client()
    assert desk.store.get(1).assignee == "ana" and r.hget(keys.assign_open("techs"), "ana") == b"1"
    done = desk.service.assign(1, "ben", "supervisor")
    assert (done.assignee, done.balanced) == ("ben", False)
    assert desk.store.get(1).assignee == "ben"
    assert r.hmget(keys.assign_open("techs"), ["ana", "ben"]) == [b"0", b"1"]
    newest = desk.store.audit_log(ref=1)[0]
    assert (newest.action, newest.details) == ("assign", {"assignee": ["ana", "ben"]})


async def test_back_to_balancing_gives_the_ticket_to_someone_else_in_its_group(desk: Desk) -> None:
    await desk.request("My laptop will not start.")
    given = desk.service.assign(1, None, "ana")
    assert given.balanced and given.group == "techs" and given.assignee in ("ben", "chen")
    assert desk.store.get(1).assignee == given.assignee
    counts = desk.redis.client().hgetall(keys.assign_open("techs"))
    assert counts[b"ana"] == b"0" and counts[given.assignee.encode()] == b"1"
    assert "techs chose" in given.describe()


async def test_back_to_balancing_without_a_group_unassigns_and_says_so(desk: Desk) -> None:
    await desk.request("The bus did not come this morning.")
    desk.service.assign(1, "dana", "supervisor")
    given = desk.service.assign(1, None, "dana")
    assert (given.assignee, given.balanced, given.group) == (None, False, None)
    assert desk.store.get(1).assignee is None
    assert given.describe() == "unassigned (no balancing group for it)"


async def test_fields_are_checked_against_the_configuration_and_the_rules(desk: Desk) -> None:
    await desk.request("The bus did not come this morning.")
    with pytest.raises(ValueError, match=r"unknown queue 'transport'; expected one of: .*\bit\b.*transportation"):
        desk.service.update_fields(1, "ana", queue="transport")
    with pytest.raises(ValueError, match="unknown priority 'asap'; expected one of: low, normal, high, urgent"):
        desk.service.update_fields(1, "ana", priority="asap")
    with pytest.raises(ValueError, match="unknown category 'buses'"):
        desk.service.update_fields(1, "ana", category="buses")
    ticket = desk.service.update_fields(1, "ana", queue="it", priority="urgent", category="devices")
    assert (ticket.queue, ticket.priority, ticket.category) == ("it", "urgent", "devices")


def _ticket(store: TicketStore, conv: str, email: str, n: int) -> int:
    new = NewTicket(conversation=conv, subject="Bus", body="The bus did not come.", channel="webform",
                    requester_email=email)  # fmt: skip
    return store.create_ticket(new, f"key-{n}")


@pytest.fixture
def service(settings: Settings, redis_server: RedisServer) -> Iterator[DeskService]:
    store = TicketStore.from_settings(settings)
    yield DeskService(store, settings, redis_server.client())
    store.close()


def test_tickets_of_the_same_family_merge_and_of_another_are_refused(service: DeskService) -> None:
    a = _ticket(service.store, "c1", "ana@example.org", 1)
    b = _ticket(service.store, "c2", "ANA@example.org", 2)
    other = _ticket(service.store, "c3", "ben@example.org", 3)
    with pytest.raises(MergeRefused, match="only tickets from the same family"):
        service.merge(a, other, "sam")
    service.merge(a, b, "sam")
    merged = service.store.get(a)
    assert (merged.merged_into, merged.status) == (b, "closed")


def test_a_link_to_an_incident_that_does_not_exist_is_refused(service: DeskService) -> None:
    tid = _ticket(service.store, "c1", "ana@example.org", 1)
    with pytest.raises(UnknownIncident, match="no incident 7"):
        service.link_incident(tid, "7", "sam")
    incidents = IncidentStore(service.r)
    at = utcnow()
    incidents.save(Incident(id=incidents.next_id(), title="Buses late", state="open", backend="builtin",
                            criteria=build_criteria(keywords=("bus",)), opened_at=at, updated_at=at))  # fmt: skip
    service.link_incident(tid, "#1", "sam")
    assert service.store.get(tid).incident_id == "1"
    service.link_incident(tid, None, "sam")
    assert service.store.get(tid).incident_id is None


def test_time_is_logged_against_a_configured_work_type_only(service: DeskService) -> None:
    tid = _ticket(service.store, "c1", "ana@example.org", 1)
    with pytest.raises(ValueError, match="unknown work type 'fixing'; expected one of: break/fix, training, "
                                         "curriculum support, project"):  # fmt: skip
        service.log_time(tid, "ana", 30, "fixing", "ana")
    entry = service.log_time(tid, "ana", 45, "curriculum support", "sam", note="Showed the class the new app.")
    assert (entry.minutes, entry.work_type, entry.person, entry.note) == (
        45, "curriculum support", "ana", "Showed the class the new app.")  # fmt: skip
    assert [(e.actor, e.action) for e in service.store.audit_log(ref=tid)] == [("sam", "log_time")]


async def test_a_ticket_linked_at_the_desk_gets_the_incidents_updates_once_and_none_once_unlinked(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    opened = intake(desk.config, "incident", "open", "--title", "Buses late", "--keyword", "snowplow")
    assert opened.returncode == 0, opened.stderr
    desk.service.link_incident(1, "1", "sam")
    assert desk.redis.client().hget(keys.conversation(conv), "incident") == b"1"
    update = ("incident", "update", "1", "--status", "in_progress", "--message")
    assert intake(desk.config, *update, "Crews are clearing the roads.").returncode == 0
    desk.work()
    desk.work()

    def told(words: str) -> list[str]:
        return [e["text"] for e in desk.told(conv) if words in e["text"]]

    assert len(told("Crews are clearing the roads.")) == 1
    assert len([r for r in desk.emailed() if r.event == "incident_update"]) == 1
    assert desk.store.get(1).status == "in_progress"  # the child ticket follows the incident, as a rule-linked one
    desk.service.link_incident(1, None, "sam")
    assert intake(desk.config, *update, "The roads are clear.").returncode == 0
    desk.work()
    assert told("The roads are clear.") == []
    assert len([r for r in desk.emailed() if r.event == "incident_update"]) == 1
    assert IncidentStore(desk.redis.client()).get("1").children == 0  # type: ignore[union-attr]


async def test_a_higher_priority_at_the_desk_moves_the_response_clocks_earlier_per_the_policy(desk: Desk) -> None:
    conv = await desk.request("The bus did not come this morning.")
    before = desk.store.get(1)
    assert before.first_response_due is not None and before.resolution_due is not None
    desk.service.update_fields(1, "ana", priority="urgent")
    after = desk.store.get(1)
    assert after.first_response_due == before.first_response_due - timedelta(hours=7)  # 8h -> 1h, always open
    assert after.resolution_due == before.resolution_due - timedelta(hours=32)  # 40h -> 8h
    assert after.next_due == after.first_response_due
    clocks = desk.redis.client().zrange(keys.SLA_DUE, 0, -1, withscores=True)
    assert sorted((text(m), s) for m, s in clocks) == [
        (f"first_response|transportation|urgent|{conv}", after.first_response_due.timestamp()),
        (f"resolution|transportation|urgent|{conv}", after.resolution_due.timestamp()),
    ]
    desk.service.reply(1, "A substitute driver comes tomorrow.", "ben")
    desk.work()  # the answer stops the (renamed) first-response clock
    assert [text(m).split("|")[0] for m in desk.redis.client().zrange(keys.SLA_DUE, 0, -1)] == ["resolution"]


async def test_a_clock_that_ran_out_given_a_target_still_ahead_runs_again_and_its_breach_is_withdrawn(
    desk: Desk,
) -> None:
    conv, arrival = await desk.arrived(hours_ago=10)  # normal: the first response was due 8 h after, 2 h ago
    await desk.sweep()
    assert desk.hash(keys.SLA_BREACHES) == {"general|normal|first_response": 1}
    desk.service.update_fields(1, "ana", priority="low")  # 16 h: due in 6 h
    ticket = desk.store.get(1)
    assert ticket.first_response_due == desk.store.get(1).next_due
    assert ticket.first_response_due is not None and ticket.first_response_due > utcnow()
    assert desk.clocks() == {  # the ticket and Redis agree: the clock runs again, renamed
        f"first_response|general|low|{conv}": ticket.first_response_due.timestamp(),
        f"resolution|general|low|{conv}": ticket.resolution_due.timestamp(),  # type: ignore[union-attr]
    }
    assert desk.hash(keys.SLA_WITHDRAWN) == {"general|normal|first_response": 1}
    await desk.sweep()
    assert desk.hash(keys.SLA_BREACHES) == {"general|normal|first_response": 1}  # counts only ever rise
    [withdrawn, update] = desk.store.audit_log(ref=1)
    assert (update.action, withdrawn.actor, withdrawn.action) == ("update", "ana", "sla_breach_withdrawn")
    assert withdrawn.details == {"clock": "first_response", "counted": "general|normal|first_response",
                                 "was_due": (arrival + timedelta(hours=8)).isoformat(),
                                 "due": ticket.first_response_due.isoformat()}  # fmt: skip
    add_staff(desk.settings, "boss", "supervisor", name="Supervisor")
    gw = desk.gateway
    page = await (await gw.http.get(gw.base + "/dashboard", headers=await session_headers(gw.settings, "boss"))).text()
    assert "No clock has run out." in page
    metrics = await (await gw.http.get(gw.base + "/metrics")).text()
    labels = '{kind="first_response",priority="normal",queue="general"} 1.0'
    assert f"intake_sla_breaches_total{labels}" in metrics and f"intake_sla_breaches_withdrawn_total{labels}" in metrics


async def test_a_breach_still_past_under_the_new_target_stands_where_it_was_counted(desk: Desk) -> None:
    _, arrival = await desk.arrived(hours_ago=10)  # normal: first response 2 h late; resolution due in 30 h
    await desk.sweep()
    desk.service.update_fields(1, "ana", priority="urgent")  # 1 h and 8 h: both past now
    ticket = desk.store.get(1)
    assert (ticket.first_response_due, ticket.resolution_due) == (arrival + timedelta(hours=1),
                                                                  arrival + timedelta(hours=8))  # fmt: skip
    assert desk.hash(keys.SLA_WITHDRAWN) == {}
    await desk.sweep()  # the running resolution clock, moved into the past, is a breach of its own
    assert desk.hash(keys.SLA_BREACHES) == {"general|normal|first_response": 1, "general|urgent|resolution": 1}
    assert desk.clocks() == {}
    desk.service.update_fields(1, "ana", priority="low")  # both ahead again: each withdrawn where it was counted
    assert desk.hash(keys.SLA_WITHDRAWN) == {"general|normal|first_response": 1, "general|urgent|resolution": 1}
    assert sorted(m.split("|")[0] for m in desk.clocks()) == ["first_response", "resolution"]
    desk.service.set_status(1, TicketStatus.RESOLVED, "ana")
    desk.work()
    assert desk.clocks() == {} and desk.redis.client().hlen(keys.SLA_BREACHED) == 0
