"""The desk's forms over HTTP: no change without the session's CSRF token, none to another department's ticket,
and a refusal (another family's request, minutes that are no number) returns to the ticket saying why."""

from __future__ import annotations

import aiohttp

from gateway.tickets import TicketStore
from tests.gateway.web.desk.conftest import make_ticket
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.staff import form_token, sign_in


async def _agent(desk: StaffGateway, username: str, ticket: int) -> tuple[aiohttp.ClientSession, str]:
    http = desk.browser()
    assert (await sign_in(http, desk.base, username)).status == 303
    page = await http.get(f"{desk.base}/desk/tickets/{ticket}")
    return http, form_token(await page.text())


async def test_an_action_without_the_sessions_csrf_token_changes_nothing(
    desk: StaffGateway, store: TicketStore
) -> None:
    tid = make_ticket(store)
    abby, token = await _agent(desk, "abby", tid)
    url = f"{desk.base}/desk/tickets/{tid}/note"
    for form in ({"body": "no token"}, {"body": "a wrong token", "csrf": token[::-1]}):
        resp = await abby.post(url, data=form, headers={"Accept": "text/html"}, allow_redirects=False)
        assert resp.status == 403
        assert "For your security, this action was not done" in await resp.text()
    elsewhere = await abby.post(url, data={"body": "from another site", "csrf": token},
                                headers={"Origin": "https://evil.example"}, allow_redirects=False)  # fmt: skip
    assert elsewhere.status == 403
    assert store.details(tid).comments == []
    done = await abby.post(url, data={"body": "with the token", "csrf": token}, allow_redirects=False)
    assert (done.status, done.headers["Location"]) == (303, f"/desk/tickets/{tid}")
    assert [c.body for c in store.details(tid).comments] == ["with the token"]
    assert [a.action for a in store.audit_log(ref=tid)] == ["note"]


async def test_an_agent_cannot_act_on_another_departments_ticket(desk: StaffGateway, store: TicketStore) -> None:
    bus = make_ticket(store, queue="transportation", subject="Bus 7 late")
    mine = make_ticket(store)
    abby, token = await _agent(desk, "abby", mine)
    for action, form in (("note", {"body": "mine now"}), ("assign", {"assignee": "abby"}),
                         ("status", {"status": "closed"})):  # fmt: skip
        resp = await abby.post(f"{desk.base}/desk/tickets/{bus}/{action}", data={**form, "csrf": token},
                               headers={"Accept": "text/html"}, allow_redirects=False)  # fmt: skip
        assert resp.status == 403, action
    merged = await abby.post(f"{desk.base}/desk/tickets/{mine}/merge", data={"into": str(bus), "csrf": token})
    assert "This request belongs to a department you do not work." in await merged.text()
    after = store.get(bus)
    assert (after.status, after.assignee, store.details(bus).comments) == ("new", None, [])
    assert store.get(mine).merged_into is None


async def test_a_refused_action_returns_to_the_ticket_saying_why(desk: StaffGateway, store: TicketStore) -> None:
    tid = make_ticket(store)
    stranger = make_ticket(store, requester_phone="+15559990000", subject="Someone else's")
    abby, token = await _agent(desk, "abby", tid)
    base = f"{desk.base}/desk/tickets/{tid}"
    page = await abby.post(f"{base}/merge", data={"into": str(stranger), "csrf": token})
    assert page.url.path == f"/desk/tickets/{tid}"
    assert "That was not done: only requests from the same family can be merged." in await page.text()
    page = await abby.post(f"{base}/time", data={"minutes": "ten", "work_type": "training", "csrf": token})
    assert "give the minutes as a whole number over 0" in await page.text()
    page = await abby.post(f"{base}/reply", data={"body": "   ", "csrf": token})
    assert "write something first" in await page.text()
    page = await abby.post(f"{base}/reply", data={"body": "x" * 10_001, "csrf": token})
    assert "the text is over 10,000 characters" in await page.text()
    assert store.get(stranger).merged_into is None
    assert store.details(tid).time_entries == [] and store.details(tid).comments == []
    page = await abby.post(f"{base}/time", data={"minutes": "15", "work_type": "training", "csrf": token})
    assert "15 minutes were logged on request" in await page.text()
    assert [(e.person, e.minutes, e.work_type) for e in store.details(tid).time_entries] == [("abby", 15, "training")]
    await abby.post(f"{base}/status", data={"status": "waiting", "comment": "", "csrf": token})
    assert store.get(tid).status == "waiting"
    assert [(a.actor, a.action, a.details) for a in store.audit_log(ref=tid)][:2] == [
        ("abby", "status", {"from": "new", "to": "waiting"}), ("abby", "log_time", {"entry": 1, "minutes": 15,
        "work_type": "training", "person": "abby"})]  # fmt: skip


async def test_an_agent_sends_a_ticket_to_another_department_and_returns_to_the_desk(
    desk: StaffGateway, store: TicketStore
) -> None:
    make_ticket(store, queue="transportation", subject="Bus 7 late")  # a department in use
    tid = make_ticket(store, subject="Bus stop moved", priority="normal")
    abby, token = await _agent(desk, "abby", tid)
    form = {"priority": "high", "category": "", "queue": "transportation", "csrf": token}
    resp = await abby.post(f"{desk.base}/desk/tickets/{tid}/fields", data=form, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/desk")
    page = await abby.get(desk.base + "/desk")
    assert f"Request #{tid} was sent to the Transportation department." in await page.text()
    moved = store.get(tid)
    assert (moved.queue, moved.priority) == ("transportation", "high")
    [entry] = store.audit_log(ref=tid)
    assert (entry.actor, entry.action) == ("abby", "update")


async def test_the_services_refusals_are_said_in_the_desks_own_words(desk: StaffGateway, store: TicketStore) -> None:
    tid = make_ticket(store)
    abby, token = await _agent(desk, "abby", tid)
    base = f"{desk.base}/desk/tickets/{tid}"
    page = await abby.post(f"{base}/merge", data={"into": str(tid), "csrf": token})
    assert "That was not done: a request cannot be merged into itself." in await page.text()
    page = await abby.post(f"{base}/incident", data={"incident": "7", "csrf": token})
    assert "That was not done: there is no incident 7." in await page.text()
    page = await abby.post(f"{base}/fields", data={"priority": "asap", "csrf": token})
    shown = await page.text()
    assert (
        "That was not done: asap is not a priority the desk knows. Choose one of: low, normal, high, urgent." in shown
    )
    page = await abby.post(f"{base}/time", data={"minutes": "5", "work_type": "fixing", "csrf": token})
    assert "fixing is not a work type the desk knows. Choose one of: break/fix, training" in await page.text()
    assert "unknown" not in shown  # not the command line's English
    assert (store.get(tid).priority, store.get(tid).incident_id, store.get(tid).merged_into) == ("normal", None, None)
