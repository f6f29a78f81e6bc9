"""Driving staff and family pages in the real Chromium (Debian's, through Playwright): launching it, checking a
page with axe-core (vendored in tests/support/axe), and keeping screenshots as test artifacts.

Screenshots go to `test-artifacts/<name>.png` at the top of the repository (git-ignored; CI keeps the folder).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from tests.support.gateway import REPO

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
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ARTIFACTS = REPO / "test-artifacts"
AXE = Path(__file__).resolve().parent / "axe" / "axe.min.js"
SERIOUS = ("serious", "critical")

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(" "))}));
}"""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def axe_violations(page: Page, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """What axe-core finds wrong on the page as it is now, at these impacts. The page's context must be made with
    `bypass_csp=True`: axe is injected as a script of its own, which a strict CSP would refuse."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(_RUN_AXE)
    return [v for v in found if v["impact"] in impacts]


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG kept as a test artifact (`name` may name a folder: "desk/ticket")."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    return path
