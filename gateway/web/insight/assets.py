"""The dashboard's and the reports' static files, served from our own origin (no CDN): their stylesheet and
scripts, and uPlot 1.6.32 (MIT, `static/insight/uPlot.LICENSE`), vendored as its release built it: no build step.
Each is linked by content hash, so a browser may keep it for a day yet never runs a stale copy after an upgrade."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

from gateway.errors import NotFound

FOLDER = Path(__file__).resolve().parents[1] / "static" / "insight"
TYPES = {".js": "text/javascript", ".css": "text/css"}
FILES = {p.name: p.read_bytes() for p in sorted(FOLDER.iterdir()) if p.suffix in TYPES}
VERSIONS = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in FILES.items()}
PREFIX = "/static/insight/"


def asset(name: str) -> str:
    return f"{PREFIX}{name}?v={VERSIONS[name]}"


async def serve(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise NotFound("no such file")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400",
               "ETag": f'"{VERSIONS[name]}"'}  # fmt: skip
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=FILES[name], content_type=TYPES[Path(name).suffix], charset="utf-8", headers=headers)
