"""The staff pages' shell, which the desk and the dashboard build on: sign-in and sign-out, sessions, the role
guard, the base template with its navigation, flash messages, times in the district's zone, the staff words,
htmx and the stylesheet, and the administrator's users page.

For a page of the desk or the dashboard:

    from gateway.web.staff import audit, current_user, render, requires

    @requires("supervisor")                      # agent < supervisor < admin
    async def dashboard(request: web.Request) -> web.StreamResponse:
        user = current_user(request)             # a StaffUser: username, name, role, departments, works(queue)
        return await render(request, "dashboard/index.html", {"counts": ...})

Every path under /desk, /dashboard, /reports and /staff needs a session whatever its decorator says (guard.py),
and every POST there the session's CSRF token (`<input type="hidden" name="csrf" value="{{ csrf }}">`; htmx sends
it as a header by itself).
"""

from __future__ import annotations

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.server import appkeys as K
from gateway.web.staff.assets import ASSETS, handler
from gateway.web.staff.audit import audit
from gateway.web.staff.context import HOME_PATH, SIGNIN_PATH, SIGNOUT_PATH, csrf_token, current_user
from gateway.web.staff.files import ATTACHMENTS_PATH, download
from gateway.web.staff.guard import STAFF_PREFIXES, read_form, requires, staff_middleware
from gateway.web.staff.services import STAFF, StaffServices, close_staff
from gateway.web.staff.shell import NAV, flash, install, message, render, words
from gateway.web.staff.signin_pages import home, me, show_signin, signout, submit_signin
from gateway.web.staff.users_page import USERS_PATH, change_role, create_user, disable_user, enable_user, list_users

__all__ = [
    "HOME_PATH",
    "NAV",
    "SIGNIN_PATH",
    "STAFF",
    "STAFF_PREFIXES",
    "StaffServices",
    "StaffUser",
    "add_staff_routes",
    "audit",
    "csrf_token",
    "current_user",
    "flash",
    "message",
    "read_form",
    "render",
    "requires",
    "staff_middleware",
    "words",
]


def add_staff_routes(app: web.Application) -> None:
    """The sign-in, the shell's own pages and files. Needs app[STAFF] and app[K.TEMPLATES]."""
    install(app[K.TEMPLATES])
    app.on_cleanup.append(close_staff)
    app.router.add_get(SIGNIN_PATH, show_signin)
    app.router.add_post(SIGNIN_PATH, submit_signin)
    app.router.add_post(SIGNOUT_PATH, signout)
    app.router.add_get(HOME_PATH, home)
    app.router.add_get(f"{HOME_PATH}/api/me", me)
    app.router.add_get(ATTACHMENTS_PATH + "/{sha256}", download)
    app.router.add_get(USERS_PATH, list_users)
    app.router.add_post(USERS_PATH, create_user)
    app.router.add_post(USERS_PATH + "/{username}/role", change_role)
    app.router.add_post(USERS_PATH + "/{username}/disable", disable_user)
    app.router.add_post(USERS_PATH + "/{username}/enable", enable_user)
    for asset in ASSETS:
        app.router.add_get(asset.path, handler(asset))
