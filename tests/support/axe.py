"""axe-core (from npm) for accessibility checks in the real browser: fetched once with `npm pack` into the tests'
cache (~/.cache/intake-gateway-tests/axe-core/), then injected into a page and run there."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Any

from playwright.async_api import Page

VERSION = "4.10.3"
CACHE = Path.home() / ".cache" / "intake-gateway-tests" / "axe-core" / VERSION


def axe_script() -> Path:
    target = CACHE / "axe.min.js"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "pack", f"axe-core@{VERSION}", "--silent"], cwd=CACHE, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"npm pack axe-core failed: {done.stderr[-1000:]}"
        with tarfile.open(CACHE / done.stdout.strip().splitlines()[-1]) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            target.write_bytes(member.read())
    return target


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now (the page's context must bypass its CSP)."""
    await page.add_script_tag(path=str(axe_script()))
    result = await page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
