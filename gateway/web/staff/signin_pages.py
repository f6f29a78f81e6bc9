"""GET/POST /signin, POST /signout, and the staff home page (/staff) with its JSON twin (/staff/api/me).

The sign-in form is protected like the family form (gateway/web/csrf.py: a token bound to a cookie of this
browser), so no other site can sign a browser in as someone else. Locks are checked before the password, and
every outcome is written to the audit log.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from gateway.accounts.lockout import Lock
from gateway.accounts.roles import normalize_username
from gateway.accounts.signin import Result, Verdict
from gateway.server import appkeys as K
from gateway.tickets import TicketStore
from gateway.web import csrf
from gateway.web.staff.audit import audit
from gateway.web.staff.context import SESSION, SIGNIN_PATH, cookie_name, current_user, is_secure
from gateway.web.staff.guard import csrf_ok, csrf_refused, load_session, local_path, read_form, requires
from gateway.web.staff.services import STAFF
from gateway.web.staff.shell import page, render

log = logging.getLogger("intake.web.staff.signin")

SIGNIN_COOKIE = "intake_signin"
SIGNIN_STATUS = {
    Verdict.WRONG: (401, "signin_wrong"),
    Verdict.DISABLED: (403, "signin_disabled"),
    Verdict.NOT_STAFF: (403, "signin_not_staff"),
    Verdict.UNAVAILABLE: (503, "signin_unavailable"),
}


def _client(request: web.Request) -> str:
    return request.app[K.LIMITS].client_of(request.remote or "", request.headers.get("X-Forwarded-For"))


def _signin_page(
    request: web.Request, *, status: int = 200, error: str = "", username: str = "", next_path: str = "",
    values: dict[str, Any] | None = None, notice: str = "",
) -> web.Response:  # fmt: skip
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not csrf.well_formed(cookie):
        cookie = csrf.new_secret()
    token = csrf.issue(request.app[K.SIGNING_KEY], cookie, time.time())
    context = {
        "token": token, "error": error, "error_values": values or {}, "notice": notice, "username": username,
        "next": next_path,
    }  # fmt: skip
    resp = page(request, "staff/signin.html", context, status=status)
    resp.set_cookie(SIGNIN_COOKIE, cookie, path=SIGNIN_PATH, httponly=True, samesite="Lax", secure=is_secure(request))
    return resp


async def show_signin(request: web.Request) -> web.StreamResponse:
    next_path = local_path(request.query.get("next"))
    try:
        signed_in = await load_session(request) is not None
    except (RedisError, OSError) as exc:
        log.warning("sign-in page: redis unreachable", extra={"error": type(exc).__name__})
        return _signin_page(request, status=503, error="signin_down", next_path=next_path)
    if signed_in:
        return web.Response(status=303, headers={"Location": next_path, "Cache-Control": "no-store"})
    notice = "signed_out" if "signed_out" in request.query else ("signin_required" if "next" in request.query else "")
    return _signin_page(request, next_path=next_path, notice=notice)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _locked(request: web.Request, lock: Lock, key: str, username: str, next_path: str) -> web.Response:
    minutes = _minutes(lock.retry_after)
    resp = _signin_page(request, status=429, error=key if minutes > 1 else f"{key}_one", username=username,
                        next_path=next_path, values={"minutes": minutes})  # fmt: skip
    resp.headers["Retry-After"] = str(lock.retry_after)
    return resp


async def submit_signin(request: web.Request) -> web.StreamResponse:
    key = request.app[K.SIGNING_KEY]
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    form = await read_form(request)
    next_path = local_path(form.get("next"))
    username = normalize_username(form.get("username", ""))[:256]
    if not csrf.well_formed(cookie):
        log.info("sign-in refused: no sign-in cookie")
        return _signin_page(request, status=403, error="signin_cookies", next_path=next_path)
    verdict = csrf.verify(key, cookie, form.get("csrf", ""), time.time())
    if verdict.check is not csrf.Check.OK:
        log.info("sign-in refused: missing, wrong or old form token", extra={"check": verdict.check.value})
        error = "signin_expired" if verdict.check is csrf.Check.EXPIRED else "signin_forbidden"
        return _signin_page(request, status=403, error=error, username=username, next_path=next_path)
    try:
        return await _judge(request, username, form.get("password", ""), next_path)
    except RedisError as exc:
        log.warning("sign-in unavailable: redis unreachable", extra={"error": type(exc).__name__})
        return _signin_page(request, status=503, error="signin_down", username=username, next_path=next_path)


async def _judge(request: web.Request, username: str, password: str, next_path: str) -> web.StreamResponse:
    staff = request.app[STAFF]
    client = _client(request)
    lock = await staff.lockout.locked(staff.redis, username, client, staff.now())
    if lock is not None:
        # Not audited one by one: a client hammering a lock would write a row per try. The lock's start is.
        log.info("sign-in refused: locked", extra={"lock": lock.kind, "retry_after": lock.retry_after})
        return _locked(request, lock, "signin_locked", username, next_path)
    result: Result = await staff.blocking(lambda: staff.authenticator().authenticate(username, password))
    if result.verdict is Verdict.OK and result.user is not None:
        return await _signed_in(request, result, client, next_path)
    actor = result.username if result.known or result.verdict is Verdict.NOT_STAFF else "-"
    details = {"reason": result.verdict.value, "client": client}
    await audit(request, "signin_failed", None, details, actor=actor)
    log.info("sign-in refused", extra={"reason": result.verdict.value})
    if result.verdict is not Verdict.WRONG:
        status, error = SIGNIN_STATUS[result.verdict]
        return _signin_page(request, status=status, error=error, username=username, next_path=next_path)
    started = await staff.lockout.failed(staff.redis, username, client, staff.now())
    if result.known:
        until = datetime.fromtimestamp(staff.now() + started.retry_after, UTC) if started else None
        await staff.run(lambda store: store.users.record_failed_login(result.username, lock_until=until))
    if started is not None:
        locked = {"lock": started.kind, "seconds": started.retry_after, "client": client}
        await audit(request, "signin_locked", None, locked, actor=actor)
        return _locked(request, started, "signin_wrong_locked", username, next_path)
    return _signin_page(request, status=401, error="signin_wrong", username=username, next_path=next_path)


async def _signed_in(request: web.Request, result: Result, client: str, next_path: str) -> web.StreamResponse:
    staff = request.app[STAFF]
    user = result.user
    assert user is not None
    old = request.cookies.get(cookie_name(request))
    if old:
        await staff.sessions.end(staff.redis, old)  # never keep a session from before the sign-in (fixation)
    await staff.lockout.succeeded(staff.redis, result.username)
    value, _ = await staff.sessions.create(staff.redis, user, staff.now())

    def record(store: TicketStore) -> None:
        store.users.record_login(result.username)
        store.audit.record(result.username, "signin", None, {"source": user.source, "client": client})

    await staff.run(record)
    log.info("staff signed in", extra={"role": user.role, "source": user.source})
    resp = web.Response(status=303, headers={"Location": next_path, "Cache-Control": "no-store"})
    resp.set_cookie(cookie_name(request), value, path="/", httponly=True, samesite="Lax", secure=is_secure(request))
    return resp


async def signout(request: web.Request) -> web.StreamResponse:
    session = await load_session(request)
    resp = web.Response(status=303, headers={"Location": f"{SIGNIN_PATH}?signed_out=1", "Cache-Control": "no-store"})
    if session is None:
        return resp
    if not await csrf_ok(request, session):
        return csrf_refused(request)
    staff = request.app[STAFF]
    await staff.sessions.end(staff.redis, request.cookies[cookie_name(request)])
    await audit(request, "signout", None, None)
    resp.del_cookie(cookie_name(request), path="/")
    return resp


@requires("agent")
async def home(request: web.Request) -> web.StreamResponse:
    return await render(request, "staff/home.html", {})


@requires("agent")
async def me(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    session = request[SESSION]
    return web.json_response({
        "username": user.username, "name": user.name, "role": user.role, "departments": list(user.departments),
        "source": user.source, "signed_in_at": datetime.fromtimestamp(session.created, UTC).isoformat(),
    }, headers={"Cache-Control": "no-store"})  # fmt: skip
