"""What the dashboard and the reports take from the staff pages' shell (gateway/web/staff/): who is asking,
the role they need, and the page language. Sessions, sign-in, CSRF and the role guard are the shell's."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.server import appkeys as K
from gateway.settings import Settings
from gateway.tickets import TicketStore
from gateway.web.i18n import choose, from_accept_language
from gateway.web.staff.context import SESSION
from gateway.web.staff.guard import requires as shell_requires

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
USER = web.RequestKey("insight_user", StaffUser)


def store(app: web.Application) -> TicketStore:
    return app[STORE].get()


def current_user(request: web.Request) -> StaffUser | None:
    return request[SESSION].user if SESSION in request else None


def language(request: web.Request) -> str:
    settings = request.app[K.SETTINGS]
    accept = from_accept_language(request.headers.get("Accept-Language"))
    return choose(request.query.get("lang"), accept, default=settings.default_language)


def requires(*roles: str) -> Callable[[Handler], Handler]:
    """The shell's guard for the least of `roles` (a supervisor's page lets an admin in too)."""
    least = min(roles, key=lambda r: ("agent", "supervisor", "admin").index(r))

    def wrap(handler: Handler) -> Handler:
        async def with_user(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            assert user is not None  # the shell's guard let the request through only with a session
            request[USER] = user
            return await handler(request)

        with_user.__name__ = getattr(handler, "__name__", "handler")
        return shell_requires(least)(with_user)

    return wrap
