"""Abuse limits on /form and /hooks/webform: per client, per address, shared by every web process, 429 + Retry-After."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from gateway.logs import JsonFormatter
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.web.forms import answers, open_form, post_form
from tests.support.gateway import TOKEN, settings_from, write_config
from tests.support.redis_server import RedisServer

OFF = "100000/hour"  # a limit no test reaches


@asynccontextmanager
async def limited(
    tmp_path: Path, redis_server: RedisServer, processes: int = 1, *, proxies: list[str] | None = None, **limits: str
) -> AsyncIterator[list[Gateway]]:
    conf = {"form_per_client": OFF, "hook_per_client": OFF, "per_address": OFF, **limits}
    config = write_config(tmp_path, redis_server.url, rate_limits=conf, server={"trusted_proxies": proxies or []})
    settings = settings_from(config)
    gateways = [Gateway(*await start_gateway(settings), settings) for _ in range(processes)]
    try:
        yield gateways
    finally:
        for gw in gateways:
            await gw.http.close()
            await gw.server.close()


async def send_form(gw: Gateway, headers: dict[str, str] | None = None, **values: str) -> aiohttp.ClientResponse:
    page = await open_form(gw, "?lang=es")
    return await post_form(
        gw, answers(**values), token=page.token, cookie=page.cookie, headers=headers, query="?lang=es"
    )


async def send_json(gw: Gateway, headers: dict[str, str] | None = None, **fields: Any) -> aiohttp.ClientResponse:
    sent = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
    resp = await gw.http.post(gw.base + "/hooks/webform", json=form(**fields), headers=sent)
    await resp.read()
    return resp


def requests_stored(redis_server: RedisServer) -> int:
    return len(list(redis_server.client().scan_iter(match="ig:req:*")))


def retry_after(resp: aiohttp.ClientResponse, most: int) -> int:
    value = int(resp.headers["Retry-After"])
    assert 0 < value <= most
    return value


async def test_a_client_past_its_form_limit_gets_429_in_its_language_and_nothing_is_stored(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with limited(tmp_path, redis_server, form_per_client="2/hour") as [gw]:
        sent = [await send_form(gw, email=f"family{i}@example.org") for i in range(3)]
        assert [r.status for r in sent] == [303, 303, 429]
        retry_after(sent[2], 3600)
        html = await sent[2].text()
        assert "Por favor espere antes de enviar otra solicitud" in html
        assert "30 minutos" in html  # one request every 30 minutes refills the bucket
    assert requests_stored(redis_server) == 2


async def test_behind_a_trusted_proxy_the_client_is_the_address_it_forwarded(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with limited(tmp_path, redis_server, proxies=["127.0.0.1/32"], form_per_client="1/hour") as [gw]:
        first = await send_form(gw, {"X-Forwarded-For": "203.0.113.7"}, email="a@example.org")
        # What a client writes left of the proxy's own entry proves nothing: still 203.0.113.7.
        spoofed = await send_form(gw, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, email="b@example.org")
        other = await send_form(gw, {"X-Forwarded-For": "198.51.100.9"}, email="c@example.org")
    assert [first.status, spoofed.status, other.status] == [303, 429, 303]


async def test_a_forwarded_for_header_from_anyone_else_is_ignored(tmp_path: Path, redis_server: RedisServer) -> None:
    async with limited(tmp_path, redis_server, form_per_client="1/hour") as [gw]:
        first = await send_form(gw, {"X-Forwarded-For": "203.0.113.7"}, email="a@example.org")
        second = await send_form(gw, {"X-Forwarded-For": "198.51.100.9"}, email="b@example.org")
    assert [first.status, second.status] == [303, 429]  # both are 127.0.0.1, whatever they claim


async def test_an_address_is_limited_across_the_form_and_the_json_intake(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with limited(tmp_path, redis_server, per_address="2/hour") as [gw]:
        a = await send_json(gw, email="Victim@Example.org", message="first")
        b = await send_form(gw, email="victim@example.org", message="second")
        c = await send_json(gw, email="victim@example.org", message="third")
        d = await send_form(gw, email="victim@example.org", message="fourth")
        phone = await send_json(gw, email=None, phone="(555) 201-0102", message="by phone")
        other = await send_json(gw, email="someone.else@example.org", message="another family")
    assert [a.status, b.status, c.status, d.status, phone.status, other.status] == [202, 303, 429, 429, 202, 202]
    assert (await c.json())["error"] == "too_many_requests"
    assert "email address or phone number" in (await c.json())["message"]
    retry_after(c, 3600)
    assert requests_stored(redis_server) == 4


async def test_the_json_intake_limits_each_client_and_answers_429_with_retry_after(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with limited(tmp_path, redis_server, hook_per_client="3/minute") as [gw]:
        sent = [await send_json(gw, email=f"parent{i}@example.org") for i in range(4)]
    assert [r.status for r in sent] == [202, 202, 202, 429]
    body = await sent[3].json()
    assert body["error"] == "too_many_requests" and "client" in body["message"]
    assert retry_after(sent[3], 60) == body["retry_after"]
    assert requests_stored(redis_server) == 3


async def test_the_limits_are_shared_by_every_web_process(tmp_path: Path, redis_server: RedisServer) -> None:
    async with limited(tmp_path, redis_server, processes=2, hook_per_client="2/hour") as [one, two]:
        first = await send_json(one, email="a@example.org")
        second = await send_json(two, email="b@example.org")
        third = await send_json(one, email="c@example.org")
        fourth = await send_json(two, email="d@example.org")
    assert [first.status, second.status, third.status, fourth.status] == [202, 202, 429, 429]


async def test_with_redis_down_nothing_is_refused_for_want_of_a_count(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The limits are soft state: while Redis is away the spool still takes every request."""
    async with limited(tmp_path, redis_server, hook_per_client="1/hour", per_address="1/hour") as [gw]:
        redis_server.stop(kill=True)
        sent = [await send_json(gw, email="a@example.org", message=f"during the outage {i}") for i in range(3)]
    assert [r.status for r in sent] == [202, 202, 202]


async def test_a_limited_client_leaves_no_file_behind(tmp_path: Path, redis_server: RedisServer) -> None:
    async with limited(tmp_path, redis_server, form_per_client="1/hour") as [gw]:
        ok = await send_form(gw, email="a@example.org")
        page = await open_form(gw)
        photo = ("bus.png", b"\x89PNG\r\n\x1a\n" + b"p" * 300_000, "image/png")
        refused = await post_form(gw, answers(), token=page.token, cookie=page.cookie, file=photo)
        blobs = gw.settings.path_in_data("blobs")
    assert [ok.status, refused.status] == [303, 429]
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


async def test_limit_keys_and_logs_hold_no_address_in_clear(tmp_path: Path, redis_server: RedisServer) -> None:
    client_ip, email = "203.0.113.77", "marisol.q.okafor@example.net"
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter())  # as production writes them, extras included
    root = logging.getLogger()
    root.addHandler(handler)
    old_level, root.level = root.level, logging.DEBUG
    try:
        async with limited(
            tmp_path, redis_server, proxies=["127.0.0.0/8"], form_per_client="1/hour", per_address="1/hour"
        ) as [gw]:
            headers = {"X-Forwarded-For": client_ip}
            statuses = [(await send_form(gw, headers, email=email)).status for _ in range(2)]
            statuses.append((await send_json(gw, headers, email=email)).status)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert statuses == [303, 429, 429]
    limit_keys = [k.decode() for k in redis_server.client().scan_iter(match="ig:limit:*")]
    assert limit_keys, "no limit was counted: the test would prove nothing"
    assert not any(client_ip in k or email in k for k in limit_keys)
    assert "over a rate limit" in logs.getvalue() and "too_many_requests" in logs.getvalue()
    assert client_ip not in logs.getvalue()


async def test_a_limit_set_off_refuses_nobody(tmp_path: Path, redis_server: RedisServer) -> None:
    async with limited(tmp_path, redis_server, hook_per_client="off", per_address="off") as [gw]:
        sent = [await send_json(gw, email="same@example.org", message=f"request {i}") for i in range(12)]
    assert {r.status for r in sent} == {202}
    assert list(redis_server.client().scan_iter(match="ig:limit:*")) == []
