"""The dashboard and the reports in the real Chromium, as a supervisor uses them: the dashboard moves by itself
when a text arrives and when a ticket changes; the pages pass axe-core, work with the keyboard alone and on a
phone. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.channels.twilio_support import SmsGateway, sms, sms_gateway, twilio_settings, work
from tests.support.browser import PHONE, axe_violations, chromium, screenshot
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, session_cookie_for

LIVE_S = 30_000  # ms: a generous deadline on a shared machine; the dashboard's own pace is a second or two


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def gw(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[SmsGateway]:
    config = write_config(
        tmp_path, redis_server.url, timezone="America/Chicago",
        server={"public_base_url": "https://intake.district.example.org"},
        channels={"twilio": twilio_settings()},
    )  # fmt: skip
    add_staff(settings_from(config), "maria.chen", "supervisor", name="María Chen")
    add_staff(settings_from(config), "tom", "agent", name="Tom Transport", departments=["transportation"])
    async with sms_gateway(config) as gateway:
        yield gateway


async def signed_in(
    browser: Browser, gw: SmsGateway, username: str = "maria.chen", **options: object
) -> BrowserContext:
    context = await browser.new_context(locale="en-US", **options)  # type: ignore[arg-type]
    name, value = await session_cookie_for(gw.settings, username)
    host = gw.base.split("//", 1)[1].split(":", 1)[0]
    secure = name.startswith("__Host-")  # a district on https: the browser keeps it to https (and loopback) only
    await context.add_cookies([{"name": name, "value": value, "domain": host, "path": "/", "secure": secure}])
    return context


async def shot(page: Page, name: str) -> None:
    await screenshot(page, f"dashboard/{name}")


async def test_the_dashboard_moves_live_when_a_text_arrives_and_when_its_ticket_changes(
    gw: SmsGateway, browser: Browser
) -> None:
    context = await signed_in(browser, gw, bypass_csp=True)  # axe is injected into the page after a live update
    page = await context.new_page()
    await page.goto(f"{gw.base}/dashboard")
    await expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    await expect(page.locator("#incoming-empty")).to_be_visible()
    await expect(page.locator("#live")).to_contain_text("Live.", timeout=LIVE_S)
    await shot(page, "dashboard-empty")

    status, _ = await gw.post("/hooks/twilio/sms", sms("The 7:10 bus to Lincoln did not come this morning."))
    assert status == 200
    await expect(page.locator("#incoming-today-total")).to_have_text("1", timeout=LIVE_S)
    await expect(page.locator("#incoming")).to_contain_text("Channel: Text message")
    await shot(page, "dashboard-a-text-arrived")

    work(gw.config)  # the worker makes the ticket
    await expect(page.locator("#open-total")).to_have_text("1", timeout=LIVE_S)
    await expect(page.locator("#unassigned-total")).to_have_text("1")
    await shot(page, "dashboard-ticket-open")

    assert intake(gw.config, "tickets", "update", "1", "--status", "resolved", "--comment", "Sent").returncode == 0
    work(gw.config)
    await expect(page.locator("#open-total")).to_have_text("0", timeout=LIVE_S)
    await expect(page.locator("#first-median")).not_to_have_text("\u2013")  # answered: a time to first response
    await shot(page, "dashboard-ticket-resolved")
    assert await axe_violations(page) == [], "the dashboard after live updates"
    await context.close()


async def test_the_dashboard_and_the_reports_have_no_serious_accessibility_violations(
    gw: SmsGateway, browser: Browser
) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms()))[0] == 200
    work(gw.config)
    logged = intake(
        gw.config, "tickets", "log-time", "1", "--minutes", "25", "--type", "break/fix", "--actor", "maria.chen"
    )
    assert logged.returncode == 0, logged.stderr[-2000:]
    assert intake(gw.config, "tickets", "update", "1", "--status", "resolved", "--comment", "Sent").returncode == 0
    context = await signed_in(browser, gw, bypass_csp=True)  # axe is injected into the page
    page = await context.new_page()
    found: dict[str, list[dict[str, object]]] = {}
    for path, name in (
        ("/dashboard", "dashboard"),
        ("/reports?report=volume&range=week", "reports-volume-week"),
        ("/reports?report=response&range=week", "reports-response-week-axe"),
        ("/reports?report=time-spent&range=week", "reports-time-spent-week"),
        ("/reports?report=equity&range=year", "reports-equity-year"),
    ):
        await page.goto(gw.base + path)
        found[path] = await axe_violations(page)
        await shot(page, name)
    await expect(page.locator("#report-table")).to_be_visible()
    await page.goto(gw.base + "/reports?report=time-spent&range=week")
    await expect(page.locator("#report-table")).to_contain_text("break/fix")  # the view checked had its data
    await expect(page.locator("figure.chart figcaption")).to_contain_text("Graph: work type.")  # not its words' key
    agent = await signed_in(browser, gw, "tom", bypass_csp=True)  # an agent: refused the dashboard, in words
    refused = await agent.new_page()
    response = await refused.goto(gw.base + "/dashboard")
    assert response is not None and response.status == 403
    found["403"] = await axe_violations(refused)
    await shot(refused, "dashboard-forbidden")
    assert {path: v for path, v in found.items() if v} == {}
    await agent.close()
    await context.close()


FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  return {name: e.getAttribute("aria-labelledby") || e.textContent.trim().slice(0, 40),
          outline: style.outlineStyle === "none" ? "" : style.outlineWidth};
}"""


async def tab_to(page: Page, target: Locator, most: int = 40) -> None:
    """Press Tab until `target` has focus, as a keyboard user moves through the page."""
    for _ in range(most):
        if await target.evaluate("e => e === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    await expect(target).to_be_focused()


async def test_the_dashboard_and_a_report_are_used_with_the_keyboard_alone(gw: SmsGateway, browser: Browser) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms()))[0] == 200
    work(gw.config)
    context = await signed_in(browser, gw)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{gw.base}/dashboard")
    await expect(page.locator("#open-total")).to_have_text("1")
    stops: list[dict[str, str]] = []  # every stop of Tab through the whole page, in order
    for _ in range(60):
        await page.keyboard.press("Tab")
        stop = await page.evaluate(FOCUSED)
        if stop is None or stop in stops[:1]:
            break
        stops.append(stop)
    names = [s["name"] for s in stops]
    assert names[:4] == ["Skip to main content", "Desk", "Dashboard", "Reports"], names
    for region in ("incoming-caption", "tickets-caption", "times-caption", "clocks-caption", "health-caption"):
        assert region in names, f"the {region} table's box takes focus, so the keyboard can scroll it: {names}"
    assert "#1" in names, "the SLA clock's ticket link"
    assert [s for s in stops if not s["outline"]] == [], "every stop shows where focus is"
    await shot(page, "dashboard-keyboard")
    await tab_to(page, page.get_by_role("link", name="Reports"))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/reports")
    await page.keyboard.press("Tab")
    await expect(page.locator(":focus")).to_have_text("Skip to main content")
    await page.keyboard.press("Enter")
    report = page.get_by_label("Report")
    await tab_to(page, report, 12)
    await page.keyboard.press("ArrowDown")  # Response times
    await expect(report).to_have_value("response")
    await tab_to(page, page.get_by_role("button", name="Show"), 8)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/reports?report=response*")
    await expect(page.get_by_role("heading", level=2)).to_contain_text("Response times")
    await expect(page.locator("#report-table")).to_be_visible()
    assert errors == []
    await expect(page.locator(".chart .plot canvas").first).to_be_attached()  # uPlot drew the graph
    await shot(page, "reports-response-week")
    await context.close()


async def test_the_pages_fit_a_phone_without_sideways_scrolling(gw: SmsGateway, browser: Browser) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms()))[0] == 200
    work(gw.config)
    context = await signed_in(browser, gw, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = await context.new_page()
    for path, name in (("/dashboard", "dashboard-phone"), ("/reports?report=volume&range=day", "reports-phone")):
        await page.goto(gw.base + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        await shot(page, name)
    await context.close()


async def test_the_paused_notice_gives_the_districts_time_not_the_browsers(gw: SmsGateway, browser: Browser) -> None:
    """A supervisor's laptop set to Tokyo still reads the Chicago district's time, as the server sent it."""
    import re
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    context = await signed_in(browser, gw, timezone_id="Asia/Tokyo")
    page = await context.new_page()
    # Keep a handle on the page's event source, so that the test can cut it as a dropped connection would.
    await page.add_init_script(
        "window.EventSource = class extends window.EventSource {"
        " constructor(...a) { super(...a); window.liveSource = this; } };"
    )
    await page.goto(f"{gw.base}/dashboard")
    await expect(page.locator("#live")).to_contain_text("Live.", timeout=LIVE_S)
    await page.evaluate("window.liveSource.close(); window.liveSource.dispatchEvent(new Event('error'))")
    await expect(page.locator("#live")).to_contain_text("Live updates paused", timeout=LIVE_S)
    found = re.search(r"Shown as of (\d\d:\d\d)\.", await page.locator("#live").inner_text())
    assert found, await page.locator("#live").inner_text()
    now = datetime.now(UTC)
    district = {f"{(now - timedelta(minutes=m)).astimezone(ZoneInfo('America/Chicago')):%H:%M}" for m in range(3)}
    assert found.group(1) in district
    await context.close()
