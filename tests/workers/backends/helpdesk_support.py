"""A gateway whose ticket system is a hosted help desk (Zammad, Freshdesk, Zendesk) played by its local stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway import keys
from gateway.web.status_links import public_base, status_url
from tests.channels.twilio_support import PUBLIC, SmsGateway, twilio_settings
from tests.support.freshdesk_api import FreshdeskStandIn
from tests.support.gateway import write_config
from tests.support.helpdesk import HelpDesk
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.zammad_api import ZammadStandIn
from tests.support.zendesk_api import ZendeskStandIn

ZAMMAD_TOKEN = "zammad-token-7f3e9a"
FRESHDESK_KEY = "freshdesk-key-51c2d0"
ZENDESK_EMAIL = "intake@district.example.org"
ZENDESK_TOKEN = "zendesk-token-a8b9c0"
HOOK_SECRET = "helpdesk-hook-secret-2d4f"
# An hour's outage compressed: holds start at 1 s and never grow past 2 s.
FAST_OUTAGES = {"hold_initial_s": 1, "hold_max_s": 2, "rate_limit_wait_s": 1, "auth_recheck_s": 1}


@pytest.fixture
def zammad(tmp_path: Path) -> Iterator[ZammadStandIn]:
    desk = ZammadStandIn(ZAMMAD_TOKEN, HOOK_SECRET, tmp_path).start()
    yield desk
    desk.stop()


@pytest.fixture
def freshdesk(tmp_path: Path) -> Iterator[FreshdeskStandIn]:
    desk = FreshdeskStandIn(FRESHDESK_KEY, HOOK_SECRET, tmp_path).start()
    yield desk
    desk.stop()


@pytest.fixture
def zendesk(tmp_path: Path) -> Iterator[ZendeskStandIn]:
    desk = ZendeskStandIn(ZENDESK_EMAIL, ZENDESK_TOKEN, HOOK_SECRET, tmp_path).start()
    yield desk
    desk.stop()


def section(desk: HelpDesk, **extra: Any) -> dict[str, Any]:
    """The `backends.<name>` section that points the backend at the stand-in."""
    common = {"url": desk.base_url, "ca_file": str(desk.ca_file), "webhook_secret": HOOK_SECRET}
    if isinstance(desk, ZammadStandIn):
        own: dict[str, Any] = {"token": ZAMMAD_TOKEN, "group": "Users"}
    elif isinstance(desk, FreshdeskStandIn):
        own = {"api_key": FRESHDESK_KEY}
    else:
        own = {"email": ZENDESK_EMAIL, "token": ZENDESK_TOKEN}
    fmap = {"queue": {"transportation": "Transportation"}}
    return {**common, **own, "map": {**fmap, **extra.pop("map", {})}, **extra}


def helpdesk_config(
    tmp_path: Path, redis_server: RedisServer, desk: HelpDesk, texts: TwilioStandIn | None = None, **extra: Any
) -> Path:
    """A district whose requests all go to the stand-in's system (and, with `texts`, that texts through Twilio's)."""
    more: dict[str, Any] = {}
    if texts is not None:
        more = {"server": {"public_base_url": PUBLIC}, "channels": {"twilio": twilio_settings(texts)}}
    backends = {"default": desk.name, desk.name: section(desk, **extra), "outages": FAST_OUTAGES}
    return write_config(tmp_path, redis_server.url, backends=backends, **more)


def point_at(desk: HelpDesk, gw: SmsGateway) -> None:
    """Where the stand-in sends its webhooks: the gateway under test."""
    desk.events_url = f"{gw.base}/backends/{desk.name}/events"


def request_ids(redis_server: RedisServer) -> list[str]:
    """Every request the gateway committed, oldest first (ids sort by time)."""
    prefix = keys.request("")
    return sorted(k.decode().removeprefix(prefix) for k in redis_server.client().scan_iter(prefix + "*"))


def ticket_of(redis_server: RedisServer, request_id: str) -> str | None:
    ref = redis_server.client().hget(keys.request(request_id), "ticket_ref")
    return ref.decode() if ref is not None else None


def timeline(redis_server: RedisServer, request_id: str) -> list[dict[str, Any]]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    return [json.loads(x) for x in r.lrange(keys.timeline(conv.decode()), 0, -1)]


async def status_page(gw: SmsGateway, request_id: str) -> str:
    link = status_url(public_base(gw.settings), gw.settings.signing_key(), request_id)
    async with gw.http.get(gw.base + urlsplit(link).path) as page:
        assert page.status == 200
        return await page.text()


def event_jobs(redis_server: RedisServer) -> list[bytes]:
    return list(redis_server.client().keys("rq:job:event-*"))
