"""The form and the status page in a real browser (Debian's Chromium driven by Playwright), as a family uses them;
axe-core finds nothing serious on the form (empty and with its problems shown) or the status page (new and resolved).
Screenshots go to test-artifacts/family/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from gateway.web.status_links import short_reference
from tests.conftest import Gateway
from tests.support.browser import axe_violations, screenshot
from tests.support.gateway import intake

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


def _worker(config: Path) -> None:
    done = intake(config, "worker", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]


def _reference(page: Page) -> str:
    request_id = page.url.split("/status/", 1)[1].split(".", 1)[0]
    return short_reference(request_id)


async def test_family_sends_the_form_and_follows_it_to_resolution(
    gateway: Gateway, config_path: Path, browser: Browser, tmp_path: Path
) -> None:
    photo = tmp_path / "bus-stop.png"
    photo.write_bytes(PNG)
    page = await browser.new_page(locale="en-US", bypass_csp=True)  # axe is injected into the page
    await page.goto(f"{gateway.base}/form")
    assert await axe_violations(page) == [], "the form"
    await screenshot(page, "family/form")
    await page.get_by_label("Your name").fill("Ana Pérez")
    await page.get_by_label("Email address").fill("ana.perez@example.org")
    await page.get_by_label("Which language should we answer you in?").select_option("en")
    await page.get_by_label("What is it about?").select_option(label="Buses and transportation")
    await page.get_by_label("Which school?").select_option(label="Lincoln High School")
    await page.get_by_label("What happened, and how can we help?").fill("The 7:10 bus did not come this morning.")
    await page.get_by_label("A photo or file").set_input_files(photo)
    await page.get_by_role("button", name="Send my request").click()

    await page.wait_for_url("**/status/*?new=1")
    await expect(page.get_by_role("heading", name="Thank you. We received your request.")).to_be_visible()
    await expect(page.locator("#reference")).to_have_text(_reference(page))
    assert await axe_violations(page) == [], "the status page, new"
    await screenshot(page, "family/status-new")

    _worker(config_path)
    await page.reload()
    await expect(page.locator("#ticket")).to_have_text("#1")
    await expect(page.locator("#timeline")).to_contain_text("We received your request (ticket #1).")

    updated = intake(config_path, "tickets", "update", "1", "--status", "resolved", "--comment", "Fixed")
    assert updated.returncode == 0, updated.stderr[-2000:]
    _worker(config_path)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Resolved")
    await expect(page.locator("#timeline")).to_contain_text("Status changed to: Resolved.")
    await expect(page.locator("#timeline")).to_contain_text("Fixed")
    assert await axe_violations(page) == [], "the status page, resolved"
    await screenshot(page, "family/status-resolved")


async def test_spanish_speaking_family_uses_form_and_status_page_in_spanish_without_javascript(
    gateway: Gateway, config_path: Path, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-US", java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{gateway.base}/form")
    await page.get_by_role("link", name="Español").click()
    await expect(page.get_by_role("heading", name="Pida ayuda al distrito")).to_be_visible()
    await page.get_by_label("Su nombre").fill("Rosa Martínez")
    await page.get_by_label("Número de teléfono").fill("(555) 201-7788")
    await page.get_by_label("¿En qué idioma quiere que le respondamos?").select_option("es")
    await page.get_by_label("¿De qué se trata?").select_option(label="Computadora o tableta del estudiante")
    await page.get_by_label("¿Qué pasó y cómo podemos ayudarle?").fill("La computadora de mi hija no prende.")
    await page.get_by_role("button", name="Enviar mi solicitud").click()

    await page.wait_for_url("**/status/*?new=1")
    await expect(page.get_by_role("heading", name="Gracias. Recibimos su solicitud.")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Recibida")

    _worker(config_path)
    await page.reload()
    await expect(page.locator("#ticket")).to_have_text("#1")
    await expect(page.locator("#timeline")).to_contain_text("Recibimos su solicitud (caso #1).")
    await expect(page.get_by_text("Número de caso")).to_be_visible()
    await context.close()


async def test_missing_answers_are_shown_beside_their_fields_in_the_browser(gateway: Gateway, browser: Browser) -> None:
    page = await browser.new_page(locale="en-US", bypass_csp=True)  # axe is injected into the page
    await page.goto(f"{gateway.base}/form")
    await page.get_by_role("button", name="Send my request").click()
    await expect(page.get_by_role("alert")).to_contain_text("Please fix these problems:")
    message = page.get_by_label("What happened, and how can we help?")
    await expect(message).to_have_attribute("aria-invalid", "true")
    await expect(message).to_have_accessible_description(
        "Include names, dates, and the device or bus number if you know them. Error: Tell us what happened."
    )
    assert await axe_violations(page) == [], "the form with its problems"
    await screenshot(page, "family/form-problems")


async def test_form_screenshot_at_phone_size_is_not_empty(gateway: Gateway, browser: Browser, tmp_path: Path) -> None:
    page = await browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    await page.goto(f"{gateway.base}/form")
    shot = tmp_path / "form-phone.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes().startswith(b"\x89PNG")


async def test_form_fits_a_phone_screen_without_sideways_scrolling(gateway: Gateway, browser: Browser) -> None:
    page = await browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    await page.goto(f"{gateway.base}/form")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


async def test_form_controls_are_big_enough_to_tap_on_a_phone(gateway: Gateway, browser: Browser) -> None:
    page = await browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    await page.goto(f"{gateway.base}/form")
    heights = await page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea, button",
        "els => els.map(e => [e.id || e.tagName, e.getBoundingClientRect().height])",
    )
    assert heights
    small = [(name, h) for name, h in heights if h < 44]
    assert small == []
