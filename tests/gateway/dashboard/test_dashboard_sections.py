"""What each section of the dashboard shows for data made to order: the page a supervisor loads reads everything
fresh, so each test seeds the store and Redis first and then reads the numbers off the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels import CHANNELS
from gateway import keys
from gateway.incidents.match import MatchCriteria
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import Priority, Reply, TicketStatus
from gateway.outbox.parked import park
from gateway.store.redis_conn import sync_client
from gateway.tickets import NewTicket, TicketStore
from gateway.web.insight.strings import StaffWords
from gateway.web.staff.strings import STAFF_STRINGS
from tests.channels.twilio_support import twilio_settings
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.web.sse import number
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, session_headers


@dataclass
class Seeded:
    gw: Gateway

    async def page(self, path: str = "/dashboard") -> str:
        resp = await self.gw.http.get(self.gw.base + path, headers=await session_headers(self.gw.settings, "boss"))
        assert resp.status == 200, path
        return await resp.text()


@asynccontextmanager
async def seeding(tmp_path: Path, redis_server: RedisServer, **overrides: Any) -> AsyncIterator[Seeded]:
    config = write_config(
        tmp_path, redis_server.url, timezone="America/Chicago",
        backends={"builtin": {"path": str(tmp_path / "tickets.sqlite3")}},
        channels={"twilio": twilio_settings()}, **overrides,
    )  # fmt: skip
    settings = settings_from(config)
    add_staff(settings, "boss", "supervisor", name="Supervisor")
    server, http = await start_gateway(settings)
    try:
        yield Seeded(Gateway(server, http, settings))
    finally:
        await http.close()
        await server.close()


@pytest.fixture
async def seeded(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Seeded]:
    async with seeding(tmp_path, redis_server) as seeded:
        yield seeded


def tickets(gw: Gateway, dues: list[tuple[str, timedelta]], priority: str = Priority.NORMAL) -> None:
    """Open tickets in (department, due from now) whose first-response clock runs."""
    store = TicketStore.from_settings(gw.settings)
    now = datetime.now(UTC)
    try:
        for n, (queue, due) in enumerate(dues, 1):
            new = NewTicket(conversation=f"conv-{n}", subject=f"Request {n}", body="The bus did not come.",
                            channel="sms", queue=queue, priority=priority, first_response_due=now + due)  # fmt: skip
            store.create_ticket(new, idempotency_key=f"req-{n}")
    finally:
        store.close()


TWELVE = [
    *[("transportation", -timedelta(hours=1))] * 2,
    ("it", -timedelta(minutes=5)),  # 3 overdue
    *[("transportation", timedelta(hours=1))] * 3,
    ("it", timedelta(hours=2)),  # 4 due soon (within 240 minutes)
    *[("hr", timedelta(days=2))] * 5,  # 5 running, not soon
]


def row(html: str, key: str) -> str:
    found = re.search(rf'<tr data-key="{key}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"no row {key}"
    return found.group(0)


async def test_a_channel_with_replies_waiting_to_be_sent_shows_as_needing_attention(seeded: Seeded) -> None:
    r = sync_client(seeded.gw.settings)
    for n in (1, 2):
        reply = Reply(
            conversation=f"conv-{n}", channel="sms", recipient="+15550100001", event="received", text="Got it"
        )
        park(r, reply, f"delivery-{n}")
    r.close()
    page = await seeded.page()
    sms = row(page, "health-channel-sms")
    assert 'class="alarm"' in sms
    assert "Needs attention" in sms
    assert "Replies waiting to be sent: 2" in sms
    webform = row(page, "health-channel-webform")
    assert "Working" in webform
    assert "alarm" not in webform


async def test_the_sla_clocks_say_how_many_run_and_link_to_the_desk_list_of_those_due(seeded: Seeded) -> None:
    tickets(seeded.gw, TWELVE)
    page = await seeded.page()
    assert page.count('<a href="/desk/tickets/') == 8
    assert re.search(r'id="clocks-count">8 of 12 running clocks', page)
    link = re.search(r'<a id="clocks-link" href="([^"]+)">([^<]+)</a>', page)
    assert link is not None
    href = link.group(1).replace("&amp;", "&")
    assert href == "/desk?due=soon_or_overdue&sort=priority"
    assert link.group(2) == "All 7 due soon or overdue, at the desk"
    desk = await seeded.page(href)
    assert "1–7 of 7 requests" in desk


async def test_a_due_soon_window_of_its_own_is_the_same_on_the_dashboard_and_on_the_desk_list_behind_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with seeding(tmp_path, redis_server, dashboard={"due_soon_minutes": 90}) as seeded:
        tickets(seeded.gw, TWELVE)  # within 90 minutes: the three transportation clocks due in an hour, not IT's in 2
        page = await seeded.page()
        assert "A response clock due within 90 minutes." in page
        assert (number(page, "due-soon-total"), number(page, "overdue-total")) == (3, 3)
        link = re.search(r'<a id="clocks-link" href="([^"]+)">([^<]+)</a>', page)
        assert link is not None and link.group(2) == "All 6 due soon or overdue, at the desk"
        behind = await seeded.page(link.group(1).replace("&amp;", "&"))
        assert "1–6 of 6 requests" in behind
        assert behind.count('class="badge badge-due-soon"') == 3
        assert "1–3 of 3 requests" in await seeded.page("/desk?due=soon")


async def test_the_due_soon_and_overdue_totals_count_by_department(seeded: Seeded) -> None:
    tickets(seeded.gw, TWELVE)
    page = await seeded.page()
    assert number(page, "open-total") == 12
    assert number(page, "due-soon-total") == 4
    assert number(page, "overdue-total") == 3
    transportation = re.search(r'<th scope="row">Transportation</th>((?:<td[^>]*>\d+</td>){4})', page)
    assert transportation is not None
    assert re.findall(r">(\d+)<", transportation.group(1)) == ["5", "5", "3", "2"]


async def test_the_breaches_are_counted_by_department_and_clock(seeded: Seeded) -> None:
    r = sync_client(seeded.gw.settings)
    r.hset(keys.SLA_BREACHES, mapping={
        "transportation|high|first_response": 2, "transportation|normal|first_response": 1,
        "it|normal|resolution": 4,
    })  # fmt: skip
    r.close()
    page = await seeded.page()
    assert number(page, "breaches-transportation-first_response") == 3
    assert number(page, "breaches-it-resolution") == 4
    assert "No clock has run out." not in page


async def test_an_active_incident_shows_its_fan_out_progress(seeded: Seeded) -> None:
    r = sync_client(seeded.gw.settings)
    incidents = IncidentStore(r)
    now = datetime.now(UTC)
    about = MatchCriteria(keywords=("bus",))
    incidents.save(Incident(id="7", title="Route 12 buses late", state="open", criteria=about, backend="builtin",
                            parent_ref="1", opened_at=now, updated_at=now))  # fmt: skip
    for n in range(5):
        incidents.link("7", f"conv-{n}")
    seq, total = incidents.record_update("7", TicketStatus.IN_PROGRESS, "Buses are on their way.", now)
    incidents.fanout_advanced("7", seq, 3, total)
    r.close()
    page = await seeded.page()
    found = re.search(r'<li id="incident-7">.*?</li>', page, re.S)
    assert found is not None
    line = found.group(0)
    assert "Route 12 buses late" in line
    assert "Linked requests: 5" in line
    assert "3 of 5" in line
    assert '<progress max="5" value="3">' in line


async def test_the_last_hour_counts_what_arrived_in_it_and_today_counts_the_whole_day(seeded: Seeded) -> None:
    gw = seeded.gw
    for n in range(2):
        assert (
            await gw.post_form(form(message=f"Request {n}: the bus did not come.", email=f"f{n}@example.org"))
        ).status == 202
    r = sync_client(gw.settings)
    now = datetime.now(UTC)
    earlier = int(now.timestamp()) // 60 - 61  # outside the last hour, and counted in today's total
    r.hincrby(keys.incoming_minute(earlier), "sms|it", 5)
    r.hincrby(keys.incoming_day(now.astimezone(gw.settings.zone).date().isoformat()), "sms|it", 5)
    r.close()
    page = await seeded.page()
    assert number(page, "incoming-hour-total") == 2
    assert number(page, "incoming-today-total") == 7
    assert re.search(r'data-key="hour-webform">2<', page)
    assert re.search(r'data-key="hour-sms">0<', page)
    assert re.search(r'data-key="today-sms">5<', page)


async def test_channels_priorities_and_statuses_are_shown_in_the_staff_pages_words(seeded: Seeded) -> None:
    tickets(seeded.gw, [("transportation", timedelta(hours=1))], priority=Priority.HIGH)
    r = sync_client(seeded.gw.settings)
    now = datetime.now(UTC)
    incidents = IncidentStore(r)
    incidents.save(Incident(id="3", title="Phones down", state="open", criteria=MatchCriteria(keywords=("phone",)),
                            backend="builtin", opened_at=now, updated_at=now))  # fmt: skip
    incidents.record_update("3", TicketStatus.IN_PROGRESS, "Working on it.", now)
    r.hincrby(keys.incoming_day(now.astimezone(seeded.gw.settings.zone).date().isoformat()), "sms|it", 1)
    r.close()
    page = await seeded.page()
    assert "Channel: Text message" in page  # incoming, and the channel's health
    assert ">Channel: sms<" not in page
    assert "Channel: Text message</th>" in row(page, "health-channel-sms")
    clock = re.search(r'<a href="/desk/tickets/1">#1</a></th><td>Transportation</td><td>([^<]+)</td>', page)
    assert clock is not None and clock.group(1) == "High"
    assert "Status: In progress" in page


def test_every_channel_priority_and_status_has_a_word_in_every_staff_language() -> None:
    values = [*(f"channel_{c}" for c in CHANNELS), *(f"priority_{p.value}" for p in Priority),
              *(f"status_{s.value}" for s in TicketStatus)]  # fmt: skip
    for lang, words in STAFF_STRINGS.items():
        assert [v for v in values if v not in words] == [], lang


async def test_departments_are_shown_by_their_configured_names_and_languages_by_name(seeded: Seeded) -> None:
    gw = seeded.gw
    tickets(gw, [("hr", -timedelta(minutes=5)), ("it", timedelta(hours=1)), ("lunch-office", timedelta(hours=1))])
    r = sync_client(gw.settings)
    r.hset(keys.SLA_BREACHES, mapping={"hr|normal|first_response": 1})
    r.hincrby(keys.incoming_day(datetime.now(UTC).astimezone(gw.settings.zone).date().isoformat()), "sms|hr", 1)
    r.close()
    page = await seeded.page()
    # Incoming, open tickets, the clocks and the breaches: "Human Resources" and "IT" (config/gateway.yaml's
    # desk.departments), never the queue ids; a queue the configuration does not name keeps its id.
    assert "Department: Human Resources</th>" in page
    assert re.search(r'<th scope="row">Human Resources</th><td class="num">1</td>', page)
    assert re.search(r'<th scope="row">IT</th><td class="num">1</td>', page)
    assert re.search(r'<th scope="row">lunch-office</th><td class="num">1</td>', page)
    assert '<a href="/desk/tickets/1">#1</a></th><td>Human Resources</td>' in page
    assert re.search(r'<th scope="row">Human Resources</th><td>First response</td><td class="num" '
                     r'id="breaches-hr-first_response">1</td>', page)  # fmt: skip
    assert not re.search(r">(hr|it)<", page)


def test_a_language_is_named_in_the_staff_words_then_by_the_form_then_by_its_code(tmp_path: Path) -> None:
    hmong = {"webform": {"languages": {"hmn": "Hmoob"}}}  # one the staff words have no name for
    settings = settings_from(write_config(tmp_path, "redis://127.0.0.1:1/0", channels=hmong))
    t = StaffWords("en", settings)
    named = [t.name_of("language", code) for code in ("vi", "zh-Hans", "es", "hmn", "xx")]
    assert named == ["Vietnamese", "Chinese", "Spanish", "Hmoob", "xx"]
    assert [t.name_of("school", "lhs"), t.name_of("department", "hr"), t.name_of("channel", "sms")] == [
        "Lincoln High School", "Human Resources", "Text message"]  # fmt: skip
