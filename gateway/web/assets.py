"""The pages' one stylesheet, served from our own origin so the CSP needs no 'unsafe-inline'."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

CSS = (Path(__file__).resolve().parent / "static" / "pages.css").read_bytes()
CSS_VERSION = hashlib.sha256(CSS).hexdigest()[:12]
CSS_PATH = "/static/pages.css"
# Linked by content hash, so browsers may cache it for long yet never keep a stale copy after an upgrade.
CSS_HREF = f"{CSS_PATH}?v={CSS_VERSION}"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=86400",
    "ETag": f'"{CSS_VERSION}"',
}


async def stylesheet(request: web.Request) -> web.Response:
    if request.headers.get("If-None-Match") == HEADERS["ETag"]:
        return web.Response(status=304, headers=HEADERS)
    return web.Response(body=CSS, content_type="text/css", charset="utf-8", headers=HEADERS)
