"""Staff download a kept attachment by its sha256, from whichever blob store this process is configured with: a
file taken by any host is served by every host sharing the store (`blobs.store: postgres`).

Signed-in staff only, and only a file kept with a ticket of a department the person works (a supervisor or an
admin: every department); each file served is written to the audit log (`attachment_download`, with the ticket).
Always a download, never a page of ours: a file is the family's bytes, so the browser is told not to guess its type
nor run anything in it.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

from aiohttp import web

from gateway.errors import Forbidden, NotFound
from gateway.server import appkeys as K
from gateway.store.blobs import BlobMissing, sniff
from gateway.web.staff.audit import audit
from gateway.web.staff.context import current_user
from gateway.web.staff.guard import requires
from gateway.web.staff.services import STAFF

ATTACHMENTS_PATH = "/staff/attachments"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@requires("agent")
async def download(request: web.Request) -> web.StreamResponse:
    key = request.match_info["sha256"]
    if not _DIGEST.fullmatch(key):
        raise NotFound("no such file")
    holders = await request.app[STAFF].run(lambda store: store.attachment_holders(key))
    if not holders:  # bytes in the blob store that no ticket kept (or not yet): nobody's to download
        raise NotFound("no such file")
    user = current_user(request)
    ticket = next((tid for tid, queue in holders if user.works(queue)), None)
    if ticket is None:
        raise Forbidden("the file belongs to another department's request")
    try:
        data = await asyncio.get_running_loop().run_in_executor(None, request.app[K.BLOBS].get, key)
    except BlobMissing:
        raise NotFound("no such file") from None
    await audit(request, "attachment_download", ticket, {"file": key})
    name = request.query.get("name", "").strip()[:200] or key[:16]
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
    return web.Response(body=data, content_type=sniff(data), headers=headers)
