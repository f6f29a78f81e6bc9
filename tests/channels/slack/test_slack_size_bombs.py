"""A megabyte-sized Slack event over the real endpoint: one bounded request (or a documented answer), in bounded memory
and CPU time. Slack retries anything but a 2xx, so a body it would keep sending must never make a 500."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from typing import Any

from channels.slack.collect import MAX_TEXT_LEN
from normalizers.slack import MAX_FILES
from tests.channels.slack.test_slack_events import commitments
from tests.channels.slack_support import SlackGateway, event, stored_requests
from tests.support.redis_server import RedisServer
from tests.support.slack_api import signed_headers

MB = 1_000_000
PATH = "/hooks/slack/events"


def sized(body: dict[str, Any], size: int) -> bytes:
    raw = json.dumps(body).encode()
    assert 0.99 * size < len(raw) <= size, len(raw)
    return raw


async def post_measured(gw: SlackGateway, raw: bytes) -> tuple[int, float, int]:
    """Status, CPU seconds and peak bytes allocated by the gateway and this client together (one process)."""
    tracemalloc.start()
    started = time.process_time()
    try:
        # A file object: aiohttp warns that a large bytes body would be sent in one blocking write.
        async with gw.http.post(gw.base + PATH, data=io.BytesIO(raw), headers=signed_headers(raw)) as resp:
            await resp.read()
        return resp.status, time.process_time() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_a_one_megabyte_message_is_one_request_with_its_text_capped(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    words = "The projector in room 204 shows no signal <@U0OTHER> <https://lhs.example.org|the site> &amp; "
    raw = sized(event(text=words * (MB // len(words) - 10)), MB)
    status, cpu_s, peak = await post_measured(slack_gateway, raw)
    assert status == 200
    [req] = stored_requests(redis_server)
    assert req["channel"] == "slack"
    [c] = commitments(redis_server)
    assert len(c.message.text) == MAX_TEXT_LEN
    assert c.message.text.startswith("The projector in room 204 shows no signal @U0OTHER the site (https://")
    assert peak < 48 * MB, peak
    assert cpu_s < 15, cpu_s


async def test_a_one_megabyte_file_share_lists_a_bounded_number_of_files(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    file = {"id": "F0PHOTO001", "name": "error.png", "mimetype": "image/png", "size": 48213,
            "permalink": "https://district.slack.com/files/U0TEACHER1/F0PHOTO001/error.png"}  # fmt: skip
    body = event("event_file_share.json")
    body["event"]["files"] = [file] * (MB // (len(json.dumps(file)) + 2) - 10)
    status, cpu_s, peak = await post_measured(slack_gateway, sized(body, MB))
    assert status == 200
    [c] = commitments(redis_server)
    assert len(c.message.attachments) == MAX_FILES
    assert peak < 64 * MB, peak
    assert cpu_s < 15, cpu_s


async def test_a_megabyte_of_nesting_in_an_event_is_answered_200_and_stores_nothing(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    """Nested past Python's recursion limit, json.loads raised RecursionError: a 500, which Slack retries for hours."""
    depth = MB // 2 - 1000
    raw = json.dumps(event()).encode()[:-1] + b', "blocks": ' + b"[" * depth + b"]" * depth + b"}"
    status, cpu_s, peak = await post_measured(slack_gateway, raw)
    assert status == 200
    assert stored_requests(redis_server) == []
    assert peak < 32 * MB, peak
    assert cpu_s < 15, cpu_s


async def test_a_body_over_the_limit_is_refused_413_and_stores_nothing(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    limit = slack_gateway.settings.server.max_body_bytes
    words = "x " * (limit // 2)
    status, _, peak = await post_measured(slack_gateway, json.dumps(event(text=words)).encode())
    assert status == 413
    assert stored_requests(redis_server) == []
    assert peak < 32 * MB, peak
