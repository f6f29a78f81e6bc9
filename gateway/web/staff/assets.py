"""The staff pages' files, served from our own origin (no CDN, no build step): their stylesheet and htmx.

Each is linked by its content hash (`?v=`), so a browser may keep it for a day yet never uses a stale copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parents[1] / "static"


@dataclass(frozen=True)
class Asset:
    path: str
    body: bytes
    content_type: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:12]

    @property
    def href(self) -> str:
        return f"{self.path}?v={self.version}"


def _asset(path: str, file: Path, content_type: str) -> Asset:
    return Asset(path, file.read_bytes(), content_type)


STAFF_CSS = _asset("/static/staff.css", STATIC / "staff.css", "text/css")
HTMX = _asset("/static/vendor/htmx.min.js", STATIC / "vendor" / "htmx.min.js", "text/javascript")
ASSETS = (STAFF_CSS, HTMX)


def handler(asset: Asset) -> Callable[[web.Request], Awaitable[web.Response]]:
    etag = f'"{asset.version}"'
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400", "ETag": etag}

    async def serve(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers)

    return serve
