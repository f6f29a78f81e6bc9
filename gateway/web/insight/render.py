"""Rendering a staff page (the dashboard, the reports) in the shell, with the headers every staff page carries."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server import appkeys as K
from gateway.web.assets import CSS_HREF
from gateway.web.insight.access import USER, language
from gateway.web.insight.assets import asset
from gateway.web.insight.strings import StaffWords

# Our own scripts only (the live updates, the graphs); the graphs' data rides in the page as inert JSON.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def words(request: web.Request) -> StaffWords:
    return StaffWords(language(request), request.app[K.SETTINGS])


def staff_page(request: web.Request, template: str, page: str, context: dict[str, Any]) -> web.Response:
    user = request[USER]
    t = words(request)
    html = (
        request.app[K.TEMPLATES]
        .get_template(template)
        .render(t=t, lang=t.lang, css_href=CSS_HREF, asset=asset, user=user, page=page, **context)
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=dict(HEADERS))
