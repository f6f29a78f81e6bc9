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
