"""The ticket page over HTTP: the whole story in time order with each message's channel, the family's files behind
the staff download, the routing rules, the response clocks in the district's zone, the incident and the family's
other requests; and the desk's words are all there for its templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.store.blob_stores import open_blobs
from gateway.tickets import NewAttachment, NewComment, TicketStore
from gateway.web.staff.strings import STAFF_STRINGS
from tests.gateway.web.desk.conftest import make_ticket
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.gateway import REPO
from tests.support.staff import form_token, sign_in

PHOTO = b"\x89PNG\r\n\x1a\n" + b"a cracked screen" * 30


async def test_the_ticket_shows_its_whole_story_its_files_rules_clocks_and_the_familys_other_requests(
    desk: StaffGateway, store: TicketStore
) -> None:
    key = open_blobs(desk.settings).put(PHOTO, "screen.png").storage_key
    assert key is not None
    photo = NewAttachment("screen.png", "image/png", len(PHOTO), key, storage_key=key)
    due = datetime(2026, 1, 5, 15, 5, tzinfo=UTC)  # 9:05 AM in Chicago, long past
    tid = make_ticket(store, rule_ids=("laptops-to-it", "vietnamese-priority"), first_response_due=due,
                      incident_id="inc-42", attachments=(photo,))  # fmt: skip
    store.add_comment(tid, NewComment("Also the charger is missing.", "Lan Nguyen", channel="email"))
    store.reply(tid, "Bring it to the library.", "abby")
    store.reply(tid, "Loaner 4411.", "abby", public=False)
    older = make_ticket(store, subject="Bus pass lost")
    make_ticket(store, subject="Someone else's", requester_phone="+15559990000")
    abby = desk.browser()
    assert (await sign_in(abby, desk.base, "abby")).status == 303
    resp = await abby.get(f"{desk.base}/desk/tickets/{tid}")
    assert resp.status == 200
    html = await resp.text()
    story = html[html.index('id="conversation"') : html.index('id="reply-title"')]
    order = [story.index(s) for s in ("does not charge", "Also the charger", "Bring it to", "Loaner 4411.")]
    assert order == sorted(order)
    assert "via Text message" in story and "via Email" in story and "via Desk" in story
    assert "Internal note" in story
    assert f'href="/staff/attachments/{key}?name=screen.png"' in story
    assert f'<img src="/staff/attachments/{key}"' in story
    assert "<code>laptops-to-it</code>" in html and "<code>vietnamese-priority</code>" in html
    clock = html[html.index('id="clock-first_response"') : html.index('id="clock-resolution"')]
    assert "after it was due Jan 5, 2026 9:05 AM" in clock and "Overdue" in clock  # late, in Chicago time
    assert 'href="/desk?incident=inc-42&amp;status=any"' in html
    family = html[html.index('id="family-title"') : html.index('id="time-title"')]
    assert f"#{older} Bus pass lost" in family and "Someone else" not in family
    listed = await (await abby.get(f"{desk.base}/desk?family={tid}&status=any")).text()
    assert re.findall(r'<tr data-ticket="(\d+)">', listed) == [str(tid), str(older)]
    assert (await abby.get(f"{desk.base}/staff/attachments/{key}")).status == 200


async def test_the_ticket_a_request_was_merged_into_shows_the_merged_requests_messages_in_time_order(
    desk: StaffGateway, store: TicketStore
) -> None:
    key = open_blobs(desk.settings).put(PHOTO, "cable.png").storage_key
    assert key is not None
    photo = NewAttachment("cable.png", "image/png", len(PHOTO), key, storage_key=key)
    merged = make_ticket(store, body="The charger cable is frayed.", channel="email", attachments=(photo,))
    store.add_comment(merged, NewComment("It sparked this morning.", "Lan Nguyen", channel="email"))
    kept = make_ticket(store)
    store.add_comment(kept, NewComment("Any news?", "Lan Nguyen", channel="sms"))
    abby = desk.browser()
    assert (await sign_in(abby, desk.base, "abby")).status == 303
    token = form_token(await (await abby.get(f"{desk.base}/desk/tickets/{merged}")).text())
    done = await abby.post(f"{desk.base}/desk/tickets/{merged}/merge", data={"into": str(kept), "csrf": token},
                           allow_redirects=False)  # fmt: skip
    assert done.status == 303
    html = await (await abby.get(f"{desk.base}/desk/tickets/{kept}")).text()
    story = html[html.index('id="conversation"') : html.index('id="reply-title"')]
    said = ("The charger cable is frayed.", "It sparked this morning.", "does not charge since Monday", "Any news?")
    order = [story.index(s) for s in said]
    assert order == sorted(order)
    frayed = story[order[0] : order[1]]  # the merged request's photo stays with the message it came with
    assert f'href="/staff/attachments/{key}?name=cable.png"' in frayed
    assert story.count("via Email") == 2 and story.count("via Text message") == 2
    assert (await abby.get(f"{desk.base}/staff/attachments/{key}")).status == 200


async def test_a_ticket_whose_clock_is_met_is_not_overdue(desk: StaffGateway, store: TicketStore) -> None:
    tid = make_ticket(store, first_response_due=datetime.now(UTC) + timedelta(hours=2))
    store.reply(tid, "On it.", "abby")
    abby = desk.browser()
    assert (await sign_in(abby, desk.base, "abby")).status == 303
    html = await (await abby.get(f"{desk.base}/desk/tickets/{tid}")).text()
    clock = html[html.index('id="clock-first_response"') : html.index('id="clock-resolution"')]
    assert "given" in clock and "Overdue" not in clock


def test_every_word_a_desk_template_names_is_in_english() -> None:
    used: set[str] = set()
    for path in Path(REPO / "templates" / "pages" / "desk").glob("*.html"):
        source = path.read_text()
        used |= set(re.findall(r"\bt\.([a-z_]+)\b", source)) - {"fmt", "when", "time", "lang", "zone"}
        used |= set(re.findall(r't\.fmt\("([a-z_]+)"[,)]', source))
    assert len(used) > 50, "too few words found: the test would prove little"
    assert sorted(used - set(STAFF_STRINGS["en"])) == []


async def test_the_department_school_and_language_are_said_by_name_on_the_list_and_the_ticket(
    desk: StaffGateway, store: TicketStore
) -> None:
    tid = make_ticket(store)  # to IT, from Lincoln High School, in Vietnamese (vi)
    ana = desk.browser()
    assert (await sign_in(ana, desk.base, "ana")).status == 303
    listed = await (await ana.get(f"{desk.base}/desk")).text()
    row = listed[listed.index(f'<tr data-ticket="{tid}">') :]
    row = row[: row.index("</tr>")]
    for label, name in (("Department", "IT"), ("School", "Lincoln High School"), ("Language", "Vietnamese")):
        assert f'<td data-label="{label}">{name}</td>' in row
    assert '<option value="it">IT</option>' in listed  # the department filter
    html = await (await ana.get(f"{desk.base}/desk/tickets/{tid}")).text()
    assert '<span id="ticket-queue">Department: IT</span>' in html
    assert "<dd>Vietnamese</dd>" in html and "<dd>Lincoln High School</dd>" in html
    # Where the request may be sent: Human Resources too, a department no ticket and no account is in yet.
    assert '<option value="transportation">Transportation</option>' in html
    assert '<option value="hr">Human Resources</option>' in html
