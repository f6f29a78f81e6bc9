"""The dashboard and the reports in the real Chromium, as a supervisor uses them: the dashboard moves by itself
when a text arrives and when a ticket changes; the pages pass axe-core, work with the keyboard alone and on a
phone. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

from tests.channels.twilio_support import SmsGateway, sms, sms_gateway, twilio_settings, work
from tests.support.axe import serious_violations
from tests.support.gateway import REPO, intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, session_cookie_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
PHONE: ViewportSize = {"width": 390, "height": 844}
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
LIVE_S = 30_000  # ms: a generous deadline on a shared machine; the dashboard's own pace is a second or two


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def gw(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[SmsGateway]:
    config = write_config(
        tmp_path, redis_server.url, timezone="America/Chicago",
        server={"public_base_url": "https://intake.district.example.org"},
        channels={"twilio": twilio_settings()},
    )  # fmt: skip
    add_staff(settings_from(config), "maria.chen", "supervisor", name="María Chen")
    async with sms_gateway(config) as gateway:
        yield gateway


async def signed_in(browser: Browser, gw: SmsGateway, **options: object) -> BrowserContext:
    context = await browser.new_context(locale="en-US", **options)  # type: ignore[arg-type]
    name, value = await session_cookie_for(gw.settings, "maria.chen")
    host = gw.base.split("//", 1)[1].split(":", 1)[0]
    secure = name.startswith("__Host-")  # a district on https: the browser keeps it to https (and loopback) only
    await context.add_cookies([{"name": name, "value": value, "domain": host, "path": "/", "secure": secure}])
    return context


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_dashboard_moves_live_when_a_text_arrives_and_when_its_ticket_changes(
    gw: SmsGateway, browser: Browser
) -> None:
    context = await signed_in(browser, gw)
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
    await context.close()


async def test_the_dashboard_and_the_reports_have_no_serious_accessibility_violations(
    gw: SmsGateway, browser: Browser
) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms()))[0] == 200
    work(gw.config)
    context = await signed_in(browser, gw, bypass_csp=True)  # axe is injected into the page
    page = await context.new_page()
    for path in ("/dashboard", "/reports?report=volume&range=week", "/reports?report=equity&range=year"):
        await page.goto(gw.base + path)
        assert await serious_violations(page) == [], path
    await context.close()


async def test_a_report_is_chosen_and_shown_with_the_keyboard_alone(gw: SmsGateway, browser: Browser) -> None:
    assert (await gw.post("/hooks/twilio/sms", sms()))[0] == 200
    work(gw.config)
    context = await signed_in(browser, gw)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{gw.base}/reports")
    await page.keyboard.press("Tab")
    await expect(page.locator(":focus")).to_have_text("Skip to main content")
    await page.keyboard.press("Enter")
    report = page.get_by_label("Report")
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await report.evaluate("e => e === document.activeElement"):
            break
    await expect(report).to_be_focused()
    await page.keyboard.press("ArrowDown")  # Response times
    await expect(report).to_have_value("response")
    for _ in range(8):
        await page.keyboard.press("Tab")
        if await page.get_by_role("button", name="Show").evaluate("e => e === document.activeElement"):
            break
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
