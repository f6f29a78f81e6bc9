"""The sign-in and the shell in a real browser: with the keyboard alone (signing in, changing a user's role,
signing out), a wrong password, a lock, axe-core's checks, a phone's screen, and htmx under the pages' own CSP.
Screenshots land in test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from gateway.tickets import TicketStore
from tests.gateway.web.staff.conftest import LOCKOUT, StaffGateway
from tests.support.browser import DESKTOP, PHONE, axe_violations, chromium, screenshot
from tests.support.staff import PASSWORD


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def _context(browser: Browser, *, phone: bool = False, axe: bool = False) -> BrowserContext:
    size = PHONE if phone else DESKTOP
    return await browser.new_context(viewport=size, is_mobile=phone, has_touch=phone, locale="en-US", bypass_csp=axe)


async def _sign_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/signin")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def _focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))


async def _tab_to(page: Page, target: Locator, most: int = 60) -> None:
    for _ in range(most):
        if await target.evaluate("e => e === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    await expect(target).to_be_focused()


_STOP = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const label = e.labels && e.labels.length ? e.labels[0].textContent.trim() : "";
  return {name: e.id || label || e.textContent.trim(), outline: getComputedStyle(e).outlineStyle !== "none"};
}"""


async def _tab_stops(page: Page, most: int = 80) -> list[dict[str, Any]]:
    """Every stop of Tab through the whole page, in order, from the top."""
    stops: list[dict[str, Any]] = []
    for _ in range(most):
        await page.keyboard.press("Tab")
        stop = await page.evaluate(_STOP)
        if stop is None or stop in stops[:1]:
            break
        stops.append(stop)
    return stops


async def test_sign_in_and_out_with_the_keyboard_alone(staff: StaffGateway, browser: Browser) -> None:
    context = await _context(browser)
    page = await context.new_page()
    await page.goto(f"{staff.base}/desk")  # a staff page: sent to sign in first, and brought back after
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.keyboard.press("Tab")
    assert await _focused(page) == "Skip to main content"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused link must show where focus is"
    await page.keyboard.press("Tab")  # the site's name, a link home
    await page.keyboard.press("Tab")
    assert await _focused(page) == "username"
    await page.keyboard.type("ana")
    await page.keyboard.press("Tab")
    assert await _focused(page) == "password"
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{staff.base}/desk")  # the page asked for first (this branch has no desk of its own)
    await page.goto(f"{staff.base}/staff")
    await expect(page.get_by_role("heading", name="Staff home")).to_be_visible()
    await expect(page.locator("#who")).to_have_text("Signed in as Ana Admin · Administrator")
    await screenshot(page, "staff-home")

    await _tab_to(
        page, page.get_by_role("navigation").get_by_role("link", name="Users")
    )  # an administrator's page, by keyboard alone
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{staff.base}/staff/users")
    stops = await _tab_stops(page)
    names = [s["name"] for s in stops]
    for control in (
        "role-1",
        "role-2",
        "role-3",
        "Save role (abby)",
        "Switch off abby",
        "new-username",
        "new-name",
        "new-email",
        "new-role",
        "new-departments",
        "new-password",
        "Add user",
        "Sign out",
    ):
        assert control in names, f"{control} is reached with Tab: {names}"
    assert [s["name"] for s in stops if not s["outline"]] == [], "every stop shows where focus is"
    role = page.get_by_label("Role of abby")
    await _tab_to(page, role)
    for _ in range(3):  # Agent, Supervisor, Administrator: one step down
        if await role.input_value() == "supervisor":
            break
        await page.keyboard.press("ArrowDown")
    await expect(role).to_have_value("supervisor")
    await page.keyboard.press("Tab")
    assert await _focused(page) == "Save role (abby)"
    await page.keyboard.press("Space")
    await expect(page.get_by_role("status")).to_contain_text("abby is now: Supervisor.")
    await expect(page.locator('tr[data-user="abby"]')).to_contain_text("Supervisor")
    await screenshot(page, "staff-users-keyboard")
    store = TicketStore.from_settings(staff.settings)
    try:
        assert store.users.get("abby").role == "supervisor"
    finally:
        store.close()

    for _ in range(60):  # to the sign-out button by Tab alone
        await page.keyboard.press("Tab")
        if await _focused(page) == "Sign out":
            break
    assert await _focused(page) == "Sign out"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/signin?signed_out=1")
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await screenshot(page, "staff-signed-out")
    await page.goto(f"{staff.base}/staff")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("Sign in to see that page.")).to_be_visible()
    await context.close()


async def test_a_wrong_password_is_explained_and_the_username_kept(staff: StaffGateway, browser: Browser) -> None:
    context = await _context(browser)
    page = await context.new_page()
    await _sign_in(page, staff.base, "abby", "not my password")
    await expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    await expect(page.get_by_label("Username")).to_have_value("abby")
    await expect(page.get_by_label("Password")).to_have_value("")
    await expect(page.get_by_label("Username")).to_have_accessible_description(
        "There is a problem The username or password is not right. Check them and try again."
    )
    await screenshot(page, "staff-signin-wrong-password")
    await context.close()


async def test_too_many_wrong_passwords_lock_the_account(staff: StaffGateway, browser: Browser) -> None:
    context = await _context(browser)
    page = await context.new_page()
    for n in range(LOCKOUT["account_attempts"]):
        await _sign_in(page, staff.base, "abby", f"guess number {n}")
    await expect(page.get_by_role("alert")).to_contain_text("there have been too many tries. Wait a minute")
    await _sign_in(page, staff.base, "abby")  # the right password, too soon
    await expect(page.get_by_role("alert")).to_contain_text("too many failed sign-ins. Wait a minute")
    await screenshot(page, "staff-signin-locked")
    assert page.url.endswith("/signin")
    await context.close()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_axe_finds_nothing_serious_on_the_sign_in_page_and_the_shell(
    staff: StaffGateway, browser: Browser, phone: bool
) -> None:
    context = await _context(browser, phone=phone, axe=True)
    page = await context.new_page()
    size = "phone" if phone else "desktop"
    found: dict[str, list[dict[str, object]]] = {}
    await page.goto(f"{staff.base}/signin")
    found["signin"] = await axe_violations(page)
    await _sign_in(page, staff.base, "ana", "wrong password")
    found["signin-error"] = await axe_violations(page)
    await _sign_in(page, staff.base, "ana")
    await page.goto(f"{staff.base}/staff")
    found["home"] = await axe_violations(page)
    await page.goto(f"{staff.base}/staff/users")
    await page.get_by_label("Username", exact=True).fill("new.person")
    await page.get_by_label("Full name").fill("New Person")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_role("button", name="Add user").click()  # a short password: the page says so beside it
    await expect(page.get_by_text("The password is too short: use at least 12 characters.")).to_be_visible()
    found["users-errors"] = await axe_violations(page)
    await screenshot(page, f"staff-users-errors-{size}")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("status")).to_contain_text("new.person was added.")
    found["users"] = await axe_violations(page)
    await screenshot(page, f"staff-users-{size}")
    agent_context = await _context(browser, phone=phone, axe=True)  # another browser: its own cookies
    other = await agent_context.new_page()
    await _sign_in(other, staff.base, "abby")
    await other.goto(f"{staff.base}/staff/users")  # an agent: refused, in words
    found["forbidden"] = await axe_violations(other)
    await screenshot(other, f"staff-forbidden-{size}")
    assert {name: v for name, v in found.items() if v} == {}
    await agent_context.close()
    await context.close()


async def test_the_pages_fit_a_phone_and_run_htmx_under_their_own_csp(staff: StaffGateway, browser: Browser) -> None:
    context = await _context(browser, phone=True)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{staff.base}/signin")
    await screenshot(page, "staff-signin-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await _sign_in(page, staff.base, "ana")
    for path in ("/staff", "/staff/users"):
        await page.goto(staff.base + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        small = await page.eval_on_selector_all(
            "main a, main button, main input:not([type=hidden]), main select, header a, header button",
            "els => els.filter(e => e.getBoundingClientRect().height < 44).map(e => e.outerHTML.slice(0, 80))",
        )
        assert small == [], path
    assert await page.evaluate("typeof htmx") == "object"
    assert await page.evaluate("htmx.config.historyCacheSize") == 0
    # An htmx request from a staff page carries the session's token by itself (hx-headers on the body).
    status = await page.evaluate(
        """() => new Promise(resolve => {
             document.body.addEventListener('htmx:afterRequest', e => resolve(e.detail.xhr.status), {once: true});
             htmx.ajax('POST', '/staff/users/abby/disable', {source: document.body, swap: 'none'});
           })"""
    )
    assert status == 200  # the users page after its redirect
    store = TicketStore.from_settings(staff.settings)
    try:
        assert store.users.get("abby").disabled is True
    finally:
        store.close()
    assert problems == []
    await context.close()
