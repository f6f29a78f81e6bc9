"""/staff/users: the administrator's page of staff accounts: list them, add one, change a role, switch one off
or on. Every change goes through gateway/accounts/manage.py (checked and audited, as `intake users` does) and
ends the person's sessions, so a new role or a disabled account takes effect on their next click.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.accounts.manage import AccountProblem, add_user, departments_from, set_disabled, set_role
from gateway.tickets import TicketStore, User
from gateway.web.staff.context import current_user
from gateway.web.staff.guard import read_form, requires
from gateway.web.staff.services import STAFF
from gateway.web.staff.shell import flash, render, words

USERS_PATH = "/staff/users"
ROLES = ("agent", "supervisor", "admin")


def _row(user: User, now: float) -> dict[str, Any]:
    locked = user.locked_until is not None and user.locked_until.timestamp() > now
    return {"user": user, "locked_until": user.locked_until if locked else None}


async def _page(
    request: web.Request, *, status: int = 200, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None, error_values: dict[str, Any] | None = None,
) -> web.Response:  # fmt: skip
    staff = request.app[STAFF]
    users = await staff.run(lambda store: store.users.all())
    context = {
        "rows": [_row(u, staff.now()) for u in users], "roles": ROLES, "errors": errors or {},
        "values": values or {}, "error_values": error_values or {},
        "min_length": staff.settings.signin.password_min_length, "users_path": USERS_PATH,
    }  # fmt: skip
    return await render(request, "staff/users.html", context, status=status)


def _back() -> web.Response:
    return web.Response(status=303, headers={"Location": USERS_PATH, "Cache-Control": "no-store"})


@requires("admin")
async def list_users(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@requires("admin")
async def create_user(request: web.Request) -> web.StreamResponse:
    staff = request.app[STAFF]
    form = await read_form(request)
    actor = current_user(request).username
    password = form.get("password", "")
    values = {k: form.get(k, "") for k in ("username", "name", "email", "role", "departments")}

    def add(store: TicketStore) -> User:
        return add_user(
            store, actor, values["username"], values["name"], values["role"], email=values["email"].strip() or None,
            departments=departments_from(values["departments"]), password=password or None,
            directory=not password, min_length=staff.settings.signin.password_min_length,
        )  # fmt: skip

    try:
        user = await staff.run(add)
    except AccountProblem as exc:
        field = {"err_username": "username", "err_name": "name", "err_role": "role", "err_password": "password",
                 "err_exists": "username"}.get(exc.key, "username")  # fmt: skip
        return await _page(request, status=422, errors={field: exc.key}, values=values, error_values=exc.values)
    await flash(request, "user_added", username=user.username)
    return _back()


async def _change(request: web.Request, change: str) -> web.StreamResponse:
    staff = request.app[STAFF]
    form = await read_form(request)
    me = current_user(request)
    username = request.match_info["username"]
    if change == "disable" and username == me.username:
        await flash(request, "err_self", kind="error")
        return _back()
    try:
        if change == "role":
            role = form.get("role", "")
            user = await staff.run(lambda store: set_role(store, me.username, username, role))
            shown = words(request).fmt("role_" + user.role)  # "Supervisor", not the stored "supervisor"
            await flash(request, "user_role_changed", username=user.username, role=shown)
        else:
            disabled = change == "disable"
            user = await staff.run(lambda store: set_disabled(store, me.username, username, disabled))
            await flash(request, "user_disabled" if disabled else "user_enabled", username=user.username)
    except AccountProblem as exc:
        await flash(request, exc.key, kind="error", **exc.values)
        return _back()
    await staff.sessions.end_all_async(staff.redis, user.username)
    return _back()


@requires("admin")
async def change_role(request: web.Request) -> web.StreamResponse:
    return await _change(request, "role")


@requires("admin")
async def disable_user(request: web.Request) -> web.StreamResponse:
    return await _change(request, "disable")


@requires("admin")
async def enable_user(request: web.Request) -> web.StreamResponse:
    return await _change(request, "enable")
