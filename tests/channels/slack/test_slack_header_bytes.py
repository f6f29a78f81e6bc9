"""Header bytes that are not UTF-8, over the real endpoint: aiohttp hands them over as lone surrogates, which
str.encode() refused inside the signature and token checks. They are refused 401 (Slack, the web form hook, the
operator token), never a 500."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

from gateway.server.app import create_app
from tests.channels.slack_support import SlackGateway, event, stored_requests
from tests.support.gateway import OPERATOR_TOKEN, settings_from, write_config
from tests.support.redis_server import RedisServer


async def raw_post(
    gw: SlackGateway | TestServer, path: str, headers: bytes, body: bytes, method: bytes = b"POST"
) -> int:
    """One HTTP/1.1 request written byte for byte (no client library would send these headers); its status."""
    server = gw if isinstance(gw, TestServer) else gw.server
    host, port = server.host, server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: application/json\r\n" % (
        method, path.encode(), host.encode())  # fmt: skip
    writer.write(head + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def test_signature_headers_that_are_not_utf8_are_refused_401(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    body = json.dumps(event()).encode()
    stamp = b"X-Slack-Request-Timestamp: %d\r\n" % int(time.time())
    assert (
        await raw_post(slack_gateway, "/hooks/slack/events", stamp + b"X-Slack-Signature: v0=\xff\xfe\r\n", body) == 401
    )
    assert await raw_post(slack_gateway, "/hooks/webform", b"Authorization: Bearer \xff\xfe\r\n", b"{}") == 401
    signed = b"X-Intake-Signature: sha256=\xc3\x28\r\n"
    assert await raw_post(slack_gateway, "/hooks/webform", signed, b"{}") == 401
    assert stored_requests(redis_server) == []


async def test_an_operator_token_that_is_not_utf8_is_refused_401(tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, redis_server.url, server={"operator_token": OPERATOR_TOKEN, "port": 0})
    server = TestServer(create_app(settings_from(config)), host="127.0.0.1")
    await server.start_server()
    try:
        assert await raw_post(server, "/metrics", b"Authorization: Bearer \xff\xfe\r\n", b"", method=b"GET") == 401
    finally:
        await server.close()
