"""A gateway whose ticket system is the generic `webhook` backend, pointed at a local receiver (tests/support)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.channels.twilio_support import PUBLIC, twilio_settings
from tests.support.gateway import OPERATOR_TOKEN, write_config
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.webhook_receiver import WebhookReceiver, signed_event

SECRET = "test-webhook-secret-5f1a"
# An hour's outage compressed: holds start at 1 s and never grow past 2 s.
FAST_OUTAGES = {"hold_initial_s": 1, "hold_max_s": 2, "rate_limit_wait_s": 1, "auth_recheck_s": 1}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET, tmp_path).start()
    yield r
    r.stop()


def webhook_section(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {"url": receiver.url, "secret": SECRET, "ca_file": str(receiver.ca_file), **extra}


def webhook_config(
    tmp_path: Path, redis_server: RedisServer, receiver: WebhookReceiver, standin: TwilioStandIn | None = None,
    **section: Any,
) -> Path:  # fmt: skip
    """The gateway.yaml of a district whose requests all go to the receiver (and, with `standin`, that texts)."""
    extra: dict[str, Any] = {}
    if standin is not None:
        extra = {"server": {"public_base_url": PUBLIC}, "channels": {"twilio": twilio_settings(standin)}}
    extra.setdefault("server", {})["operator_token"] = OPERATOR_TOKEN  # /readyz's detail is the operator's
    backends = {"default": "webhook", "webhook": webhook_section(receiver, **section), "outages": FAST_OUTAGES}
    return write_config(tmp_path, redis_server.url, backends=backends, **extra)


async def post_event(http: aiohttp.ClientSession, base: str, secret: str = SECRET, at: int | None = None,
                     **fields: Any) -> int:  # fmt: skip
    body, headers = signed_event(secret, at, **fields)
    async with http.post(base + "/backends/webhook/events", data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for an outcome another process brings about, with a generous deadline for a loaded machine."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)
