"""Page routes. (Filled in by the pages work: GET/POST /form, GET /status/{token}.)"""

from __future__ import annotations

from aiohttp import web


def add_page_routes(app: web.Application) -> None:
    return None
