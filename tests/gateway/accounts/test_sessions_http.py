"""Sessions over real HTTP: nothing staff answers without one, the cookie's flags, sharing across web
processes, idle and absolute expiry, sign-out, CSRF, and where `next` may lead."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.tickets import TicketStore
from gateway.web.staff import requires
from tests.gateway.web.staff.conftest import MovingClock, StaffGateway, staff_config, start, stop
from tests.support.redis_server import RedisServer
from tests.support.staff import PASSWORD, add_staff, browser_session, form_token, session_token, sign_in

HTML = {"Accept": "text/html,application/xhtml+xml"}


def session_cookie(http: aiohttp.ClientSession, base: str) -> str:
    return http.cookie_jar.filter_cookies(URL(base))["intake_staff"].value


async def test_a_page_without_a_session_goes_to_the_sign_in_page_and_back_after_it(staff: StaffGateway) -> None:
    http = staff.browser()
    resp = await http.get(f"{staff.base}/staff/users?sort=name", headers=HTML, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/signin?next=/staff/users%3Fsort%3Dname"

    signed = await sign_in(http, staff.base, "ana", next_path="/staff/users?sort=name")
    assert signed.status == 303
    assert signed.headers["Location"] == "/staff/users?sort=name"
    page = await http.get(f"{staff.base}/staff/users?sort=name", headers=HTML)
    assert page.status == 200
    assert "Sam Supervisor" in await page.text()


async def test_data_without_a_session_is_401_json_and_htmx_is_sent_to_sign_in(staff: StaffGateway) -> None:
    http = staff.browser()
    data = await http.get(f"{staff.base}/staff/api/me")
    assert data.status == 401
    assert (await data.json())["error"] == "unauthorized"
    htmx = await http.get(f"{staff.base}/staff", headers={**HTML, "HX-Request": "true"})
    assert htmx.status == 401
    assert htmx.headers["HX-Redirect"] == "/signin?next=/staff"
    piece = await http.get(f"{staff.base}/desk/rows?page=2",
                           headers={"HX-Request": "true", "HX-Current-URL": f"{staff.base}/desk?queue=it"})  # fmt: skip
    assert piece.headers["HX-Redirect"] == "/signin?next=/desk%3Fqueue%3Dit"  # back to the page, not the piece
    stream = await http.get(f"{staff.base}/dashboard/events", headers={"Accept": "text/event-stream"})
    assert stream.status == 401


async def test_every_staff_path_needs_a_session_even_a_handler_nobody_decorated(
    staff_config_path: Path, clock: MovingClock
) -> None:
    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({"tickets": ["every family's message"]})

    def routes(app: web.Application) -> None:
        for path in ("/desk/export.csv", "/dashboard/counts", "/reports/volume"):
            app.router.add_get(path, forgotten)
            app.router.add_post(path, forgotten)

    gw = await start(staff_config_path, clock, routes)
    try:
        http = gw.browser()
        for path in ("/desk/export.csv", "/dashboard/counts", "/reports/volume"):
            assert (await http.get(gw.base + path)).status == 401
            assert (await http.post(gw.base + path, data=b"x")).status == 401
        await sign_in(http, gw.base, "abby")
        assert (await http.get(gw.base + "/desk/export.csv")).status == 200
        # Signed in, a change still needs the session's token.
        assert (await http.post(gw.base + "/desk/export.csv", data={"x": "1"})).status == 403
        token = await session_token(http, gw.base)
        assert (await http.post(gw.base + "/desk/export.csv", data={"csrf": token})).status == 200
        assert (await http.post(gw.base + "/desk/export.csv", headers={"X-CSRF-Token": token})).status == 200
    finally:
        await stop(gw)


async def test_roles_below_the_one_a_page_requires_get_403(staff_config_path: Path, clock: MovingClock) -> None:
    @requires("supervisor")
    async def board(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    gw = await start(staff_config_path, clock, lambda app: app.router.add_get("/dashboard/board", board))
    try:
        agent, supervisor, admin = gw.browser(), gw.browser(), gw.browser()
        for http, name in ((agent, "abby"), (supervisor, "sam"), (admin, "ana")):
            assert (await sign_in(http, gw.base, name)).status == 303
        assert (await agent.get(gw.base + "/dashboard/board")).status == 403
        assert (await supervisor.get(gw.base + "/dashboard/board")).status == 200
        assert (await admin.get(gw.base + "/dashboard/board")).status == 200
        users_page = await supervisor.get(gw.base + "/staff/users", headers=HTML)
        assert users_page.status == 403
        assert "You cannot open this page" in await users_page.text()
        assert (await agent.get(gw.base + "/staff/users")).status == 403
        assert (await admin.get(gw.base + "/staff/users")).status == 200
        me = await agent.get(gw.base + "/staff/api/me")
        assert await me.json() | {"signed_in_at": None} == {
            "username": "abby", "name": "Abby Agent", "role": "agent", "departments": ["it"], "source": "local",
            "signed_in_at": None,
        }  # fmt: skip
    finally:
        await stop(gw)


async def test_the_session_cookie_is_httponly_samesite_and_holds_no_name(staff: StaffGateway) -> None:
    resp = await sign_in(staff.browser(), staff.base, "ana")
    morsel = resp.cookies["intake_staff"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # plain http here: a Secure cookie would never come back
    assert "ana" not in morsel.value and len(morsel.value) >= 43


async def test_behind_https_the_session_cookie_is_secure_and_host_only(
    tmp_path: Path, redis_server: RedisServer, clock: MovingClock
) -> None:
    config = staff_config(tmp_path, redis_server.url, server={"public_base_url": "https://desk.district.example"})
    gw = await start(config, clock)
    add_staff(gw.settings, "ana", "admin")
    try:
        async with aiohttp.ClientSession() as http:  # a Secure cookie never comes back over http: carried by hand
            page = await http.get(f"{gw.base}/signin")
            signin_cookie = page.cookies["intake_signin"]
            assert signin_cookie["secure"] is True
            form = {"csrf": form_token(await page.text()), "username": "ana", "password": PASSWORD}
            resp = await http.post(f"{gw.base}/signin", data=form, allow_redirects=False,
                                   headers={"Cookie": f"intake_signin={signin_cookie.value}"})  # fmt: skip
        assert resp.status == 303
        morsel = resp.cookies["__Host-intake_staff"]
        assert morsel["secure"] is True and morsel["httponly"] is True and morsel["path"] == "/"
        assert not morsel["domain"]
    finally:
        await stop(gw)


async def test_a_session_made_by_one_web_process_works_in_another_and_sign_out_ends_it_in_both(
    staff: StaffGateway, staff_config_path: Path, clock: MovingClock
) -> None:
    other = await start(staff_config_path, clock)
    try:
        http = staff.browser()
        await sign_in(http, staff.base, "sam")
        cookie = {"Cookie": f"intake_staff={session_cookie(http, staff.base)}"}
        async with aiohttp.ClientSession() as elsewhere:
            assert (await elsewhere.get(other.base + "/staff/api/me", headers=cookie)).status == 200
            token = await session_token(http, staff.base)
            out = await elsewhere.post(other.base + "/signout", data={"csrf": token}, headers=cookie,
                                       allow_redirects=False)  # fmt: skip
            assert out.status == 303 and out.headers["Location"] == "/signin?signed_out=1"
            assert (await elsewhere.get(other.base + "/staff/api/me", headers=cookie)).status == 401
        assert (await http.get(staff.base + "/staff/api/me")).status == 401
    finally:
        await stop(other)


async def test_a_session_ends_after_the_idle_time_and_after_session_hours_whatever_happens(
    staff: StaffGateway, clock: MovingClock
) -> None:
    idle = staff.settings.signin.idle_minutes * 60
    http = staff.browser()
    await sign_in(http, staff.base, "abby")
    clock.advance(idle - 30)
    assert (await http.get(staff.base + "/staff/api/me")).status == 200
    clock.advance(idle - 30)  # active a moment ago: the idle time counts from the last request
    assert (await http.get(staff.base + "/staff/api/me")).status == 200
    clock.advance(idle + 1)
    assert (await http.get(staff.base + "/staff/api/me")).status == 401

    busy = staff.browser()
    await sign_in(busy, staff.base, "abby")
    hours = staff.settings.signin.session_hours * 3600
    for _ in range(int(hours // (idle / 2)) + 1):
        clock.advance(idle / 2)
        if (await busy.get(staff.base + "/staff/api/me")).status != 200:
            break
    assert (await busy.get(staff.base + "/staff/api/me")).status == 401
    assert clock.now().timestamp() - (await _created(staff, "abby")) >= hours


async def _created(staff: StaffGateway, username: str) -> float:
    store = TicketStore.from_settings(staff.settings)
    try:
        user = store.users.get(username)
        assert user.last_login_at is not None
        return user.last_login_at.timestamp()
    finally:
        store.close()


async def test_sign_out_needs_the_session_token_and_ends_the_session(staff: StaffGateway) -> None:
    http = staff.browser()
    await sign_in(http, staff.base, "abby")
    forged = await http.post(staff.base + "/signout", data={"csrf": "x" * 43}, allow_redirects=False)
    assert forged.status == 403
    assert (await http.get(staff.base + "/staff/api/me")).status == 200
    value = session_cookie(http, staff.base)
    token = await session_token(http, staff.base)
    out = await http.post(staff.base + "/signout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    async with aiohttp.ClientSession() as replay:  # the old cookie, kept by someone: worth nothing now
        again = await replay.get(staff.base + "/staff/api/me", headers={"Cookie": f"intake_staff={value}"})
        assert again.status == 401
    page = await http.get(staff.base + "/signin?signed_out=1")
    assert "You are signed out." in await page.text()


async def test_a_post_from_another_site_is_refused_even_with_the_token(staff: StaffGateway) -> None:
    http = staff.browser()
    await sign_in(http, staff.base, "ana")
    token = await session_token(http, staff.base)
    form = {"csrf": token, "username": "mallory", "name": "Mallory", "role": "admin", "password": PASSWORD}
    evil = await http.post(staff.base + "/staff/users", data=form, headers={"Origin": "https://evil.example"},
                           allow_redirects=False)  # fmt: skip
    assert evil.status == 403
    missing = await http.post(staff.base + "/staff/users", data={**form, "csrf": ""}, allow_redirects=False)
    assert missing.status == 403
    store = TicketStore.from_settings(staff.settings)
    try:
        assert "mallory" not in [u.username for u in store.users.all()]
    finally:
        store.close()


async def test_next_never_leads_to_another_site(staff: StaffGateway) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        http = browser_session()
        try:
            resp = await sign_in(http, staff.base, "ana", next_path=target)
            assert resp.headers["Location"] == "/staff", target
        finally:
            await http.close()


async def test_signed_in_a_second_time_the_old_session_is_gone(staff: StaffGateway) -> None:
    http = staff.browser()
    tab = form_token(await (await http.get(f"{staff.base}/signin")).text())  # a second tab, open since before
    await sign_in(http, staff.base, "ana")
    first = session_cookie(http, staff.base)
    again = await http.post(f"{staff.base}/signin", data={"csrf": tab, "username": "sam", "password": PASSWORD},
                            allow_redirects=False)  # fmt: skip
    assert again.status == 303
    assert session_cookie(http, staff.base) != first
    async with aiohttp.ClientSession() as replay:
        old = await replay.get(staff.base + "/staff/api/me", headers={"Cookie": f"intake_staff={first}"})
        assert old.status == 401
    assert (await (await http.get(staff.base + "/staff/api/me")).json())["username"] == "sam"


async def test_while_redis_is_away_staff_pages_say_so_and_show_nothing(
    staff: StaffGateway, redis_server: RedisServer
) -> None:
    http = staff.browser()
    await sign_in(http, staff.base, "ana")
    redis_server.stop(kill=True)
    page = await http.get(staff.base + "/staff/users", headers=HTML)
    assert page.status == 503
    html = await page.text()
    assert "Signing in is not possible right now." in html and "Sam Supervisor" not in html
    assert (await http.get(staff.base + "/staff/api/me")).status == 503
    signin = await http.get(staff.base + "/signin")
    assert signin.status == 503
    redis_server.start()
    assert (await http.get(staff.base + "/staff/api/me")).status == 200
