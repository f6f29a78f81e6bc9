"""The desk's pages over HTTP: what a list shows for its filters, search and pages, the CSV of the same list, the
ticket page, who may open what, and no change without the session's CSRF token."""

from __future__ import annotations

import csv
import io
import re

import aiohttp

from gateway.tickets import TicketStore
from gateway.web.staff import STAFF
from tests.gateway.web.desk.conftest import make_ticket
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.staff import sign_in

ROW = re.compile(r'<tr data-ticket="(\d+)">')


async def _signed_in(desk: StaffGateway, username: str) -> aiohttp.ClientSession:
    http = desk.browser()
    assert (await sign_in(http, desk.base, username)).status == 303
    return http


async def _ids(http: aiohttp.ClientSession, url: str) -> list[int]:
    resp = await http.get(url)
    assert resp.status == 200, resp.status
    return [int(n) for n in ROW.findall(await resp.text())]


async def test_the_list_filters_searches_and_sorts_within_the_agents_departments(
    desk: StaffGateway, store: TicketStore
) -> None:
    laptop = make_ticket(store)
    urgent = make_ticket(
        store,
        subject="Projector broken in room 12",
        priority="urgent",
        channel="email",
        requester_email="teacher@district.example.org",
        requester_phone=None,
        language="en",
    )
    mine = make_ticket(store, subject="Wi-Fi down at Lincoln", school="wms", assignee="abby")
    bus = make_ticket(store, subject="Bus 7 late", queue="transportation")
    done = make_ticket(store, subject="Password reset")
    store.set_status(done, "resolved", None, "abby")
    abby = await _signed_in(desk, "abby")
    base = f"{desk.base}/desk"
    assert await _ids(abby, base) == [urgent, laptop, mine]  # open, IT only, most urgent first
    assert await _ids(abby, base + "?sort=newest") == [mine, urgent, laptop]
    assert await _ids(abby, base + "?status=any&sort=oldest") == [laptop, urgent, mine, done]
    assert await _ids(abby, base + "?status=done") == [done]
    assert await _ids(abby, base + "?priority=urgent") == [urgent]
    assert await _ids(abby, base + "?assignee=me") == [mine]
    assert await _ids(abby, base + "?assignee=none") == [urgent, laptop]
    assert await _ids(abby, base + "?channel=email") == [urgent]
    assert await _ids(abby, base + "?school=wms") == [mine]
    assert await _ids(abby, base + "?language=vi") == [laptop, mine]
    assert await _ids(abby, base + "?q=projector") == [urgent]
    assert await _ids(abby, base + "?q=chromebook+charge") == [laptop]
    assert await _ids(abby, base + "?queue=transportation") == [urgent, laptop, mine]  # not hers: her own
    assert await _ids(abby, base + "?q=bus") == []
    ana = await _signed_in(desk, "ana")
    assert await _ids(ana, base + "?queue=transportation") == [bus]
    assert await _ids(ana, base + "?sort=oldest") == [laptop, urgent, mine, bus]


async def test_every_ticket_is_reachable_page_by_page_and_the_csv_holds_the_whole_list(
    desk: StaffGateway, store: TicketStore
) -> None:
    made = [make_ticket(store, subject=f"Laptop {n}") for n in range(101)]
    abby = await _signed_in(desk, "abby")
    page = await abby.get(f"{desk.base}/desk?sort=oldest&per_page=50&page=3")
    html = await page.text()
    assert [int(n) for n in ROW.findall(html)] == [made[100]]
    assert "101–101 of 101 requests" in html
    assert 'rel="prev"' in html and 'rel="next"' not in html
    first = await (await abby.get(f"{desk.base}/desk?sort=oldest")).text()
    assert "1–50 of 101 requests" in first and "Page 1 of 3" in first
    assert 'href="/desk?sort=oldest&amp;page=2"' in first
    export = await abby.get(f"{desk.base}/desk/export.csv?sort=oldest")
    assert export.status == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await export.text())))
    assert [int(r["id"]) for r in rows] == made


async def test_an_agent_is_refused_another_departments_ticket_and_nobody_gets_in_without_a_session(
    desk: StaffGateway, store: TicketStore
) -> None:
    bus = make_ticket(store, subject="Bus 7 late", queue="transportation")
    abby = await _signed_in(desk, "abby")
    refused = await abby.get(f"{desk.base}/desk/tickets/{bus}", headers={"Accept": "text/html"})
    assert refused.status == 403
    assert "Bus 7 late" not in await refused.text()
    assert (await abby.get(f"{desk.base}/desk/tickets/99999")).status == 404
    tom = await _signed_in(desk, "tom")
    assert (await tom.get(f"{desk.base}/desk/tickets/{bus}")).status == 200
    anonymous = desk.browser()
    for path in ("/desk", f"/desk/tickets/{bus}"):
        resp = await anonymous.get(desk.base + path, headers={"Accept": "text/html"}, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, f"/signin?next={path}")
    assert (await anonymous.get(f"{desk.base}/desk/export.csv")).status == 401


async def test_a_search_for_a_word_in_too_many_requests_to_count_still_pages_to_the_last_and_exports_them_all(
    desk: StaffGateway, store: TicketStore
) -> None:
    made = [make_ticket(store, subject=f"Laptop {n} will not charge") for n in range(60)]
    served = desk.server.app[STAFF].store()
    served.common_words, served.few_to_check = 5, 5  # a million tickets' common word, at sixty
    abby = await _signed_in(desk, "abby")
    url = f"{desk.base}/desk?q=charge&sort=newest&per_page=25"
    first = await (await abby.get(url)).text()
    assert [int(n) for n in ROW.findall(first)] == made[::-1][:25]
    assert "1–25 of more than 25 requests" in first and "add a word or a filter" in first
    assert "Page 1; more follow" in first and 'rel="next"' in first
    assert "Download all of them (CSV)" in first
    last = await (await abby.get(url + "&page=3")).text()
    assert [int(n) for n in ROW.findall(last)] == made[::-1][50:]
    assert "51–60 of 60 requests" in last and 'rel="next"' not in last and "Page 3 of 3" in last
    export = await abby.get(f"{desk.base}/desk/export.csv?q=charge&sort=newest")
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(await export.text()))] == made[::-1]
