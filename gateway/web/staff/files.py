"""Staff download a kept attachment by its sha256, from whichever blob store this process is configured with: a
file taken by any host is served by every host sharing the store (`blobs.store: postgres`).

Signed-in staff only (any role). Always a download, never a page of ours: a file is the family's bytes, so the
browser is told not to guess its type nor run anything in it.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

from aiohttp import web

from gateway.errors import NotFound
from gateway.server import appkeys as K
from gateway.store.blobs import BlobMissing, sniff
from gateway.web.staff.guard import requires

ATTACHMENTS_PATH = "/staff/attachments"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@requires("agent")
async def download(request: web.Request) -> web.StreamResponse:
    key = request.match_info["sha256"]
    if not _DIGEST.fullmatch(key):
        raise NotFound("no such file")
    try:
        data = await asyncio.get_running_loop().run_in_executor(None, request.app[K.BLOBS].get, key)
    except BlobMissing:
        raise NotFound("no such file") from None
    name = request.query.get("name", "").strip()[:200] or key[:16]
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
    return web.Response(body=data, content_type=sniff(data), headers=headers)
