"""The page shell every staff page shares: rendering a page in the base template with its navigation, the
signed-in person, flash messages and the CSRF token; times in the district's zone; the staff pages' words.

A page of the desk or the dashboard is a template that `{% extends "staff/base.html" %}` and fills `title` and
`main`, rendered with `await render(request, "desk/list.html", {...})`. In a template: `t.key` and
`t.fmt("key", n=1)` for words (gateway/web/staff/strings.py), `value|localtime`, `value|localdate` and
`value|isotime` for times, `csrf` for a form's hidden field, `user` for who is signed in, `name_of("department",
queue)` (also "school", "language") for a value kept as an id, as staff read it (gateway/web/names.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.server import appkeys as K
from gateway.web.i18n import Words, from_accept_language
from gateway.web.names import namer
from gateway.web.staff.assets import HTMX, STAFF_CSS
from gateway.web.staff.context import HOME_PATH, SESSION, SESSION_VALUE, SIGNOUT_PATH
from gateway.web.staff.services import STAFF
from gateway.web.staff.strings import STAFF_STRINGS

# Scripts only from our own origin (htmx, no inline script, no eval); htmx's requests and event streams too.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Staff pages show families' messages: never in a shared cache, nor in the browser's back-button cache.
    "Cache-Control": "no-store",
}
# htmx without what the CSP forbids (inline indicator styles, eval) and without copies of pages in localStorage.
HTMX_CONFIG = json.dumps({
    "includeIndicatorStyles": False, "allowEval": False, "allowScriptTags": False, "selfRequestsOnly": True,
    "historyCacheSize": 0, "refreshOnHistoryMiss": True,
})  # fmt: skip
# The areas of the staff pages, each shown to the roles that may open it: (path, words key, least role).
NAV: tuple[tuple[str, str, str], ...] = (
    ("/desk", "nav_desk", "agent"),
    ("/dashboard", "nav_dashboard", "supervisor"),
    ("/reports", "nav_reports", "supervisor"),
    ("/staff/users", "nav_users", "admin"),
)


def staff_language(request: web.Request) -> str:
    for candidate in (from_accept_language(request.headers.get("Accept-Language")),
                      request.app[K.SETTINGS].default_language):  # fmt: skip
        if candidate in STAFF_STRINGS:
            return candidate
    return "en"


def words(request: web.Request) -> Words:
    return Words(staff_language(request), STAFF_STRINGS, zone=request.app[K.SETTINGS].zone)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return _as_time(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


@jinja2.pass_context
def localtime(ctx: jinja2.runtime.Context, value: Any) -> str:
    """A time as staff read it: the district's zone, never UTC ("Jan 4, 2027 9:05 AM")."""
    at = _as_time(value)
    return ctx["t"].when(at) if at else ""


@jinja2.pass_context
def localdate(ctx: jinja2.runtime.Context, value: Any) -> str:
    at = _as_time(value)
    if at is None:
        return ""
    t: Words = ctx["t"]
    local = at.astimezone(t.zone)
    return t.fmt("date_format", month=t.months.split()[local.month - 1], day=local.day, year=local.year)


def isotime(value: Any) -> str:
    """For `<time datetime=...>`: the exact instant, machine-readable."""
    at = _as_time(value)
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else ""


def install(env: jinja2.Environment) -> None:
    env.filters.update(localtime=localtime, localdate=localdate, isotime=isotime)


def nav_for(user: StaffUser | None, path: str) -> list[dict[str, Any]]:
    if user is None:
        return []
    return [
        {"href": href, "key": key, "current": path == href or path.startswith(href + "/")}
        for href, key, role in NAV
        if user.has_role(role)
    ]


async def flash(request: web.Request, key: str, kind: str = "success", **values: object) -> None:
    """A message for the next page this person sees (after a redirect): `key` in the staff words, with values."""
    if SESSION_VALUE not in request:
        return
    staff = request.app[STAFF]
    await staff.sessions.push_flash(staff.redis, request[SESSION_VALUE], {"kind": kind, "key": key, "values": values})


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """A staff page: `template` (extending staff/base.html) with the shell's context and this session's flashes."""
    flashes: list[dict[str, Any]] = []
    if SESSION_VALUE in request:
        staff = request.app[STAFF]
        flashes = await staff.sessions.pop_flashes(staff.redis, request[SESSION_VALUE])
    return page(request, template, context or {}, status=status, flashes=flashes)


def page(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200,
    flashes: list[dict[str, Any]] | None = None,
) -> web.Response:  # fmt: skip
    """Rendering without reading flashes (the sign-in page, refusals)."""
    t = words(request)
    session = request.get(SESSION)
    user = session.user if session else None
    name_of = namer(request.app[K.SETTINGS], {**STAFF_STRINGS["en"], **STAFF_STRINGS[t.lang]}, t.lang)
    html = request.app[K.TEMPLATES].get_template(template).render(
        t=t, lang=t.lang, user=user, csrf=session.csrf if session else "",
        csrf_headers=json.dumps({"X-CSRF-Token": session.csrf}) if session else "",
        nav=nav_for(user, request.path), flashes=flashes or [], css_href=STAFF_CSS.href, htmx_href=HTMX.href,
        htmx_config=HTMX_CONFIG, home_path=HOME_PATH, signout_path=SIGNOUT_PATH, name_of=name_of, **context,
    )  # fmt: skip
    headers = {**HEADERS, "Content-Language": t.lang}
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=headers)


def message(request: web.Request, title_key: str, text_key: str, status: int, **values: object) -> web.Response:
    """A short page that says in words why something was refused."""
    context = {"title_key": title_key, "text_key": text_key, "values": values}
    return page(request, "staff/message.html", context, status=status)
