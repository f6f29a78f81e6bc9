"""Staff accounts and signing in for a test: accounts made in the real store, sign-ins through the real pages."""

from __future__ import annotations

import re
from collections.abc import Iterable

import aiohttp

from gateway.accounts import passwords
from gateway.settings import Settings
from gateway.tickets import TicketStore, User

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def add_staff(
    settings: Settings, username: str, role: str = "agent", *, password: str | None = PASSWORD,
    departments: Iterable[str] = (), name: str | None = None, source: str = "local",
) -> User:  # fmt: skip
    """An account in the built-in store of these settings (a directory account when `password` is None)."""
    store = TicketStore.from_settings(settings)
    try:
        return store.users.add(
            username, name or username.title(), role, departments=departments, source=source,
            password_hash=passwords.hash_password(password) if password is not None else None,
        )  # fmt: skip
    finally:
        store.close()


def form_token(html: str) -> str:
    """The `csrf` hidden field of the (first) form on a page."""
    found = _TOKEN.search(html)
    assert found, "no csrf field on the page"
    return found.group(1)


async def sign_in(
    http: aiohttp.ClientSession, base: str, username: str, password: str = PASSWORD, *, next_path: str = ""
) -> aiohttp.ClientResponse:
    """Open the sign-in page and send it, as a browser does; the answer is not followed (303 on success)."""
    page = await http.get(f"{base}/signin")
    token = form_token(await page.text())
    data = {"csrf": token, "username": username, "password": password, "next": next_path}
    resp = await http.post(f"{base}/signin", data=data, allow_redirects=False)
    await resp.read()
    return resp


async def session_token(http: aiohttp.ClientSession, base: str) -> str:
    """The signed-in session's CSRF token, read from the staff home page."""
    page = await http.get(f"{base}/staff")
    assert page.status == 200, page.status
    return form_token(await page.text())


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies as a browser does, for a gateway on 127.0.0.1 (aiohttp's default jar keeps
    none for an IP address)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def signed_in_cookie(base: str, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """(name, value) of the session cookie a real sign-in gives `username`, for a client that is not a browser
    session (a Playwright context, a raw request)."""
    async with browser_session() as http:
        resp = await sign_in(http, base, username, password)
        assert resp.status == 303, f"sign-in refused ({resp.status})"
        for cookie in http.cookie_jar:
            if cookie.key.endswith("intake_staff"):
                return cookie.key, cookie.value
    raise AssertionError("no session cookie after signing in")


async def session_cookie_for(settings: Settings, username: str) -> tuple[str, str]:
    """(name, value) of a real session for an account of the store, made by the sessions code itself (for a
    gateway whose public address is https, where a sign-in over plain http is refused as cross-origin)."""
    import time

    import redis.asyncio as aioredis

    from gateway.accounts.sessions import Sessions
    from gateway.accounts.signin import staff_user
    from gateway.store.redis_conn import redis_url

    store = TicketStore.from_settings(settings)
    try:
        user = staff_user(store.users.get(username))
    finally:
        store.close()
    client = aioredis.from_url(redis_url(settings))
    try:
        value, _ = await Sessions(settings.signin, settings.signing_key()).create(client, user, time.time())
    finally:
        await client.aclose()
    secure = settings.server.public_base_url.startswith("https://")
    return ("__Host-intake_staff" if secure else "intake_staff"), value


async def session_headers(settings: Settings, username: str) -> dict[str, str]:
    name, value = await session_cookie_for(settings, username)
    return {"Cookie": f"{name}={value}"}
