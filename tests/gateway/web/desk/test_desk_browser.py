"""The desk in the real Chromium, end to end as an agent works: a family's text becomes a ticket; the agent signs
in, pages to the 101st ticket and finds the family's by search with the keyboard alone, replies (the family gets
the text), adds a note (nobody gets it), changes the status and priority, assigns and logs time (all with the
keyboard alone), is refused a merge into itself, and merges the family's second request into it. axe-core finds
nothing serious on the list, the ticket, the ticket with a notice and with a refusal, or the page refusing another
department's agent; the list fits a phone. Screenshots go to test-artifacts/desk/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from gateway.tickets import TicketStore
from tests.channels.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MAIN,
    PARENT,
    SmsGateway,
    sms,
    sms_gateway,
    texts,
    twilio_settings,
    work,
)
from tests.gateway.web.desk.conftest import make_ticket
from tests.support.browser import DESKTOP, PHONE, axe_violations, chromium, screenshot
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import PASSWORD, add_staff
from tests.support.twilio_api import TwilioStandIn

WAIT = 30_000  # ms, generous on a shared machine


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


@pytest.fixture
async def gw(tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn) -> AsyncIterator[SmsGateway]:
    config = write_config(
        tmp_path, redis_server.url, timezone="America/Chicago",
        server={"public_base_url": "https://intake.district.example.org"},
        channels={"twilio": twilio_settings(standin)},
    )  # fmt: skip
    settings = settings_from(config)
    add_staff(settings, "maria.chen", "agent", name="María Chen", departments=["general", "it"])
    add_staff(settings, "tom", "agent", name="Tom Transport", departments=["transportation"])
    async with sms_gateway(config) as gateway:
        yield gateway


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def shot(page: Page, name: str) -> None:
    await screenshot(page, f"desk/{name}")


async def tab_to(page: Page, target: Locator, most: int = 150) -> None:
    """Press Tab until `target` has focus, as a keyboard user moves through the page."""
    for _ in range(most):
        if await target.evaluate("e => e === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    await expect(target).to_be_focused()


async def choose(page: Page, select: Locator, value: str) -> None:
    """Move the focused <select> to `value` with the arrow keys, as a keyboard user does."""
    await expect(select).to_be_focused()
    for key in ("ArrowDown", "ArrowUp"):
        for _ in range(12):
            if await select.input_value() == value:
                return
            await page.keyboard.press(key)
    await expect(select).to_have_value(value)


async def sign_in(page: Page, base: str, username: str, path: str) -> None:
    """A staff page without a session sends the browser to sign in, and back after; typed with the keyboard."""
    await page.goto(base + path)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await tab_to(page, page.get_by_label("Username"))
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**{path}")


async def context(browser: Browser, *, phone: bool = False) -> BrowserContext:
    size = PHONE if phone else DESKTOP
    return await browser.new_context(viewport=size, is_mobile=phone, has_touch=phone, locale="en-US",
                                      bypass_csp=True)  # fmt: skip


async def test_an_agent_works_a_familys_text_end_to_end_with_the_keyboard(
    gw: SmsGateway, browser: Browser, standin: TwilioStandIn
) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms("My daughter's Chromebook screen is cracked.")))[0] == 200
    work(gw.config)
    store = TicketStore.from_settings(gw.settings)
    try:
        [first] = [t.id for t in store.page().items]
        filler = [make_ticket(store, queue="general", subject=f"Printer {n}", requester_phone=f"+1555300{n:04d}")
                  for n in range(100)]  # fmt: skip
        second = make_ticket(store, queue="general", subject="Also the charger", requester_phone=PARENT)
    finally:
        store.close()
    assert len(texts(standin)) == 1  # the acknowledgement
    ctx = await context(browser)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await sign_in(page, gw.base, "maria.chen", "/desk?sort=oldest")
    await expect(page.locator("#list-summary")).to_have_text("1–50 of 102 requests")
    assert await axe_violations(page) == [], "the list"
    await shot(page, "desk-list")
    for n in (2, 3):  # to the last page by keyboard: the 101st and 102nd tickets are there
        await tab_to(page, page.get_by_role("link", name="Next page"))
        await page.keyboard.press("Enter")
        await expect(page.locator("#page-of")).to_have_text(f"Page {n} of 3")
    await expect(page.locator(f'tr[data-ticket="{filler[99]}"]')).to_be_visible()
    await expect(page.locator(f'tr[data-ticket="{second}"]')).to_be_visible()

    await tab_to(page, page.get_by_role("searchbox", name="Search"))
    await page.keyboard.type("chromebook cracked")
    await page.keyboard.press("Enter")
    await expect(page.locator("#list-summary")).to_have_text("1–1 of 1 requests")
    await tab_to(page, page.get_by_role("link", name=f"#{first}", exact=True))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Request #{first}")
    conversation = page.locator("#conversation")
    await expect(conversation).to_contain_text("My daughter's Chromebook screen is cracked.")
    await expect(conversation).to_contain_text("via Text message")
    await expect(page.locator("#threading")).to_contain_text("Text message: a new request")
    await expect(page.locator("#family")).to_contain_text("Also the charger")
    await expect(page.locator("#clock-first_response")).to_contain_text("due")
    assert await axe_violations(page) == [], "the ticket"
    await shot(page, "desk-ticket")

    await tab_to(page, page.get_by_label("Your reply"))  # a public reply, with the keyboard alone
    await page.keyboard.type("We are sending a loaner today.")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"Your reply to request #{first} is on its way")
    await tab_to(page, page.get_by_label("Note", exact=True))
    await page.keyboard.type("Loaner 4411 from the Lincoln cart.")
    await page.keyboard.press("Tab")  # to "Add note"
    await page.keyboard.press("Space")
    await expect(page.get_by_role("status")).to_contain_text("The note was added")
    work(gw.config)
    sent = [(t["To"], t["From"], t["Body"]) for t in texts(standin)]
    assert any(to == PARENT and frm == MAIN and "We are sending a loaner today." in body for to, frm, body in sent)
    assert not any("Loaner 4411" in body for _, _, body in sent)  # a note never leaves

    await tab_to(page, page.get_by_label("New status"))  # every action below with the keyboard alone
    await choose(page, page.get_by_label("New status"), "in_progress")
    await tab_to(page, page.get_by_role("button", name="Change status"))
    await page.keyboard.press("Space")
    await expect(page.get_by_role("status")).to_contain_text(f"Request #{first} is now: In progress.")
    assert await axe_violations(page) == [], "the ticket with a notice"
    await shot(page, "desk-ticket-flash")
    await tab_to(page, page.get_by_label("Priority", exact=True))
    await choose(page, page.get_by_label("Priority", exact=True), "high")
    await tab_to(page, page.get_by_role("button", name="Save"))
    await page.keyboard.press("Enter")
    await expect(page.locator("#ticket-priority")).to_have_text("High")
    await tab_to(page, page.get_by_label("Assign to"))
    await choose(page, page.get_by_label("Assign to"), "maria.chen")
    await tab_to(page, page.get_by_role("button", name="Assign", exact=True))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"Request #{first} is assigned to maria.chen.")
    await expect(page.locator("#ticket-assignee")).to_contain_text("maria.chen")
    await tab_to(page, page.get_by_label("Minutes"))
    await page.keyboard.type("25")
    await page.keyboard.press("Tab")  # the work type: its first, as it is
    await expect(page.get_by_label("Work type")).to_be_focused()
    await tab_to(page, page.get_by_role("button", name="Log time"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"25 minutes were logged on request #{first}.")
    await expect(page.locator("#time-total")).to_have_text("25 min in all")
    await expect(page.locator("#ticket-status")).to_have_text("In progress")
    await expect(conversation).to_contain_text("Loaner 4411 from the Lincoln cart.")
    await expect(conversation).to_contain_text("Internal note")
    await shot(page, "desk-ticket-worked")
    await tab_to(page, page.get_by_label("Merge this request into request number"))  # refused: into itself
    await page.keyboard.type(str(first))
    await page.keyboard.press("Enter")
    refused = "That was not done: a request cannot be merged into itself."  # the desk's words, not the service's
    await expect(page.get_by_role("status")).to_contain_text(refused)
    assert await axe_violations(page) == [], "the ticket with a refusal"
    await shot(page, "desk-ticket-refused")

    await page.goto(f"{gw.base}/desk/tickets/{second}")
    await page.get_by_label("Merge this request into request number").fill(str(first))
    await page.get_by_role("button", name="Merge").click()
    await page.wait_for_url(f"**/desk/tickets/{first}")
    await expect(page.get_by_role("status")).to_contain_text(f"Request #{second} was merged into request #{first}.")
    await expect(page.locator("#family")).to_contain_text("Also the charger")  # closed, merged: still the family's
    store = TicketStore.from_settings(gw.settings)
    try:
        assert store.get(second).merged_into == first
        assert [a.action for a in store.audit_log(ref=first)][::-1][-1] == "merged_from"
    finally:
        store.close()
    assert errors == []
    await ctx.close()

    other = await context(browser)
    tom = await other.new_page()
    await sign_in(tom, gw.base, "tom", f"/desk/tickets/{first}")
    await expect(tom.get_by_role("heading", name="Not in your departments")).to_be_visible()
    assert "Chromebook" not in await tom.content()
    assert await axe_violations(tom) == [], "the 403 page"
    await shot(tom, "desk-forbidden")
    await other.close()

    phone_ctx = await context(browser, phone=True)
    phone = await phone_ctx.new_page()
    await sign_in(phone, gw.base, "maria.chen", "/desk?per_page=25")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(phone, "desk-list-phone")
    await phone.goto(f"{gw.base}/desk/tickets/{first}")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(phone, "desk-ticket-phone")
    await phone_ctx.close()
