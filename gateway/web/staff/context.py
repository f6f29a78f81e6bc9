"""What one staff request carries (its session, its form) and the few names every staff module shares."""

from __future__ import annotations

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.accounts.sessions import Session
from gateway.server import appkeys as K

SIGNIN_PATH = "/signin"
SIGNOUT_PATH = "/signout"
HOME_PATH = "/staff"
SESSION = web.RequestKey("staff_session", Session)
SESSION_VALUE = web.RequestKey("staff_session_value", str)
FORM = web.RequestKey("staff_form", dict[str, str])


def is_secure(request: web.Request) -> bool:
    return request.secure or request.app[K.SETTINGS].server.public_base_url.startswith("https://")


def cookie_name(request: web.Request) -> str:
    """`__Host-` when served over https: the browser then keeps the cookie to this host, path / and https only."""
    return "__Host-intake_staff" if is_secure(request) else "intake_staff"


def current_user(request: web.Request) -> StaffUser:
    """The signed-in person. Only under the guard (a path under STAFF_PREFIXES, or `@requires`)."""
    if SESSION not in request:
        raise web.HTTPUnauthorized(text='{"error": "unauthorized"}', content_type="application/json")
    return request[SESSION].user


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, for a form's hidden `csrf` field or an `X-CSRF-Token` header."""
    return request[SESSION].csrf if SESSION in request else ""
