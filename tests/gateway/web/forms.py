"""Driving the web form over plain HTTP: open a page (token + cookie), post it as a browser would."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis

from gateway.web.csrf import COOKIE
from tests.conftest import Gateway

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class FormPage:
    html: str
    token: str
    cookie: str


def answers(**overrides: str) -> dict[str, str]:
    """What a parent types into a valid form."""
    values = {
        "name": "Ana Pérez",
        "email": "ana.perez@example.org",
        "phone": "",
        "category": "transportation",
        "school": "lhs",
        "message": "The 7:10 bus to Lincoln did not come this morning.",
        "language": "es",
    }
    values.update(overrides)
    return values


async def open_form(gw: Gateway, query: str = "", headers: dict[str, str] | None = None) -> FormPage:
    resp = await gw.http.get(f"{gw.base}/form{query}", headers=headers or {})
    html = await resp.text()
    assert resp.status == 200, html
    match = _TOKEN.search(html)
    assert match, "the form has no csrf field"
    return FormPage(html, match.group(1), resp.cookies[COOKIE].value)


async def post_form(
    gw: Gateway,
    values: dict[str, str],
    *,
    token: str | None,
    cookie: str | None,
    file: tuple[str, bytes, str] | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """Post multipart/form-data like a browser: an empty file part when no file was chosen."""
    data = aiohttp.FormData(default_to_multipart=True)
    if token is not None:
        data.add_field("csrf", token)
    for name, value in values.items():
        data.add_field(name, value)
    filename, content, ctype = file or ("", b"", "application/octet-stream")
    # A stream, not bytes: aiohttp warns (an error under our filterwarnings) about large raw byte bodies.
    data.add_field("attachment", io.BytesIO(content), filename=filename, content_type=ctype)
    sent: dict[str, Any] = dict(headers or {})
    if cookie is not None:
        sent["Cookie"] = f"{COOKIE}={cookie}"
    resp = await gw.http.post(f"{gw.base}/form{query}", data=data, headers=sent, allow_redirects=False)
    await resp.read()
    return resp


def intake_keys(client: redis.Redis) -> list[bytes]:
    """What a request stored: every key but the rate limits' counts (which hold nothing of the request)."""
    return [k for k in client.scan_iter(match="ig:*") if not k.startswith(b"ig:limit:")]
