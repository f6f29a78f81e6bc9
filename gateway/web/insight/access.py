"""THE PAGE SHELL'S INTERFACE, AS THE DASHBOARD AND THE REPORTS USE IT. Point these at the shell when merging.

Sign-in, sessions, roles and the staff pages' shell are built beside this (issue 15, part A). The dashboard and
the reports need four things from it, and only these, all defined here:

- `current_user(request)`: who is asking (`StaffUser`), or None;
- `requires(*roles)`: a handler decorator; no session is 401 (a page that says so for a browser, JSON for data),
  a session without one of the roles is 403;
- `language(request)`: the staff page language;
- the base template `staff_shell.html` that the pages extend (blocks `title`, `main`, `scripts`).

Until then, a request is a member of staff when it carries either `Authorization: Bearer <server.operator_token>`
(an operator's script: role admin), or the signed cookie `intake_staff` naming an enabled user of the built-in
store (`session_cookie` makes one; the shell's own session replaces it).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.server import appkeys as K
from gateway.server.health import is_operator
from gateway.settings import Settings
from gateway.tickets import TicketStore, UnknownUser
from gateway.web.i18n import choose, from_accept_language

COOKIE = "intake_staff"
SUPERVISORS = ("supervisor", "admin")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LazyStore:
    """The built-in store, opened (and migrated) the first time a staff page asks for it, then kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: TicketStore | None = None
        self._lock = threading.Lock()

    def get(self) -> TicketStore:
        with self._lock:
            if self._store is None:
                self._store = TicketStore.from_settings(self.settings)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


STORE = web.AppKey("staff_store", LazyStore)


@dataclass(frozen=True)
class StaffUser:
    username: str
    name: str
    role: str
    departments: tuple[str, ...] = ()


USER = web.RequestKey("staff_user", StaffUser)


def _sig(key: bytes, payload: str) -> str:
    mac = hmac.new(key, f"staff\x1f{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def session_cookie(key: bytes, username: str, ttl_s: int = 8 * 3600, now: float | None = None) -> str:
    payload = f"{username}:{int((now or time.time()) + ttl_s)}"
    return f"{base64.urlsafe_b64encode(payload.encode()).decode()}.{_sig(key, payload)}"


def _username(key: bytes, cookie: str) -> str | None:
    encoded, _, sig = cookie.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(sig.encode(), _sig(key, payload).encode()):
        return None
    username, _, expiry = payload.rpartition(":")
    return username if expiry.isdigit() and int(expiry) > time.time() else None


def store(app: web.Application) -> TicketStore:
    return app[STORE].get()


def current_user(request: web.Request) -> StaffUser | None:
    if is_operator(request):
        return StaffUser("operator", "Operator", "admin")
    username = _username(request.app[K.SIGNING_KEY], request.cookies.get(COOKIE, ""))
    if username is None:
        return None
    try:
        user = store(request.app).users.get(username)
    except UnknownUser:
        return None
    return None if user.disabled else StaffUser(user.username, user.name, user.role, user.departments)


def language(request: web.Request) -> str:
    settings = request.app[K.SETTINGS]
    accept = from_accept_language(request.headers.get("Accept-Language"))
    return choose(request.query.get("lang"), accept, default=settings.default_language)


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" not in accept or request.path.endswith((".csv", ".json", "/events"))


def requires(*roles: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            if user is None or user.role not in roles:
                status, error = (401, "sign_in_required") if user is None else (403, "not_allowed")
                if _wants_json(request):
                    return web.json_response({"error": error}, status=status)
                return web.Response(status=status, text=error.replace("_", " "), content_type="text/plain")
            request[USER] = user
            return await handler(request)

        return guarded

    return wrap
