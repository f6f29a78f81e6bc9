"""Nothing of the staff pages answers without a session, and no change is made without the session's CSRF token.

`staff_middleware` guards every path under STAFF_PREFIXES: it finds the session (the cookie, looked up in
Redis), and refuses a request without one: a page is redirected to the sign-in page (303, `?next=` the page),
anything else (JSON, CSV, server-sent events, an htmx request) gets 401 JSON, with `HX-Redirect` so htmx takes
the whole page to the sign-in. A POST (PUT, PATCH, DELETE) must also carry the session's token: the `csrf` field
of an urlencoded form, the `X-CSRF-Token` header (htmx sends it on every request of a staff page), or, for a
multipart form only, `?csrf=` in its action; and a browser's `Origin`, when it sends one, must be ours.

`@requires(role)` on a handler adds the role check (403 for someone whose role is below it), and guards a handler
outside the prefixes too. `current_user(request)` is the signed-in person.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote, urlsplit

from aiohttp import web
from redis.exceptions import RedisError

from gateway.accounts.sessions import Session
from gateway.server import appkeys as K
from gateway.server.http import read_capped
from gateway.web.staff.context import FORM, HOME_PATH, SESSION, SESSION_VALUE, SIGNIN_PATH, cookie_name
from gateway.web.staff.services import STAFF
from gateway.web.staff.shell import message

log = logging.getLogger("intake.web.staff")

STAFF_PREFIXES = ("/desk", "/dashboard", "/reports", "/staff")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in STAFF_PREFIXES)


def wants_page(request: web.Request) -> bool:
    """A browser navigating to a page (not htmx, not a script, not an event stream)."""
    if request.method not in ("GET", "HEAD") or request.headers.get("HX-Request") == "true":
        return False
    return "text/html" in request.headers.get("Accept", "")


def local_path(target: str | None) -> str:
    """A `next` that can only lead back into this site: a path, never `//host` or a scheme."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    return target


def signin_url(next_path: str) -> str:
    return f"{SIGNIN_PATH}?next={quote(next_path, safe='/')}"


def unauthenticated(request: web.Request) -> web.StreamResponse:
    back = request.path_qs
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-Current-URL"):
        # An htmx request is a piece of a page: after signing in, the person returns to the page itself.
        current = urlsplit(request.headers["HX-Current-URL"])
        back = local_path(current.path + (f"?{current.query}" if current.query else ""))
    target = signin_url(back)
    if wants_page(request):
        return web.Response(status=303, headers={"Location": target, "Cache-Control": "no-store"})
    body = {"error": "unauthorized", "message": "sign in first", "signin": SIGNIN_PATH}
    return web.json_response(body, status=401, headers={"HX-Redirect": target, "Cache-Control": "no-store"})


def forbidden(request: web.Request) -> web.StreamResponse:
    if wants_page(request):
        return message(request, "forbidden_title", "forbidden_text", 403)
    body = {"error": "forbidden", "message": "your role does not allow this"}
    return web.json_response(body, status=403, headers={"Cache-Control": "no-store"})


async def load_session(request: web.Request) -> Session | None:
    """The request's live session (once per request), or None."""
    if SESSION in request:
        return request[SESSION]
    value = request.cookies.get(cookie_name(request), "")
    if not value:
        return None
    staff = request.app[STAFF]
    session = await staff.sessions.load(staff.redis, value, staff.now())
    if session is not None:
        request[SESSION] = session
        request[SESSION_VALUE] = value
    return session


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site request (they all send Origin on a POST), or an old browser
    netloc = urlsplit(origin).netloc
    allowed = {request.host}
    base = request.app[K.SETTINGS].server.public_base_url
    if base:
        allowed.add(urlsplit(base).netloc)
    return netloc in allowed


async def read_form(request: web.Request) -> dict[str, str]:
    """An urlencoded form's fields (the last value of each name), read once and kept for the handler."""
    if FORM in request:
        return request[FORM]
    fields: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        body = await read_capped(request, FORM_LIMIT)
        fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    request[FORM] = fields
    return fields


async def csrf_ok(request: web.Request, session: Session) -> bool:
    if not _same_origin(request):
        return False
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type == "multipart/form-data":
        sent = request.query.get("csrf")
    if sent is None:
        sent = (await read_form(request)).get("csrf")
    return sent is not None and bool(sent) and hmac.compare_digest(sent.encode(), session.csrf.encode())


def csrf_refused(request: web.Request) -> web.StreamResponse:
    log.info("staff request refused: missing or wrong CSRF token", extra={"method": request.method})
    if request.headers.get("HX-Request") == "true" or "text/html" not in request.headers.get("Accept", ""):
        return web.json_response({"error": "forbidden", "message": "missing or wrong CSRF token"}, status=403)
    return message(request, "csrf_title", "csrf_text", 403)


def sessions_unavailable(request: web.Request, exc: Exception) -> web.StreamResponse:
    """Redis, where sessions live, does not answer: nobody can be recognised, so nothing is shown."""
    log.warning("staff page unavailable: redis unreachable", extra={"error": type(exc).__name__})
    if wants_page(request):
        return message(request, "unavailable_title", "signin_down", 503)
    return web.json_response({"error": "unavailable", "message": "sessions cannot be read now"}, status=503)


@web.middleware
async def staff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not guarded(request.path):
        return await handler(request)
    try:
        session = await load_session(request)
    except (RedisError, OSError) as exc:
        return sessions_unavailable(request, exc)
    if session is None:
        return unauthenticated(request)
    if request.method in UNSAFE and not await csrf_ok(request, session):
        return csrf_refused(request)
    return await handler(request)


def requires(role: str) -> Callable[[Handler], Handler]:
    """A handler for `role` and above (`agent`, `supervisor`, `admin`)."""

    def wrap(handler: Handler) -> Handler:
        async def guarded_handler(request: web.Request) -> web.StreamResponse:
            try:
                session = await load_session(request)
            except (RedisError, OSError) as exc:
                return sessions_unavailable(request, exc)
            if session is None:
                return unauthenticated(request)
            if request.method in UNSAFE and not guarded(request.path) and not await csrf_ok(request, session):
                return csrf_refused(request)
            if not session.user.has_role(role):
                return forbidden(request)
            return await handler(request)

        guarded_handler.__name__ = getattr(handler, "__name__", "handler")
        guarded_handler.__doc__ = handler.__doc__
        return guarded_handler

    return wrap
