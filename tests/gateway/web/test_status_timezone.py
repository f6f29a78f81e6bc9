"""The family's status page shows every time in the district's time zone, never UTC."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Gateway, start_gateway
from tests.gateway.web.forms import answers, open_form, post_form
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer

ZONE = "Pacific/Honolulu"  # never UTC's day or hour: the test fails if a UTC time slips through


@pytest.fixture
async def hawaii(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Gateway]:
    settings = settings_from(write_config(tmp_path, redis_server.url, timezone=ZONE))
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def test_the_status_page_shows_times_in_the_districts_zone(hawaii: Gateway) -> None:
    page = await open_form(hawaii)
    sent = await post_form(hawaii, answers(language="en"), token=page.token, cookie=page.cookie)
    html = await (await hawaii.http.get(hawaii.base + sent.headers["Location"])).text()
    found = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', html)
    assert found, "no time on the status page"
    at = datetime.fromisoformat(found.group(1)).astimezone(ZoneInfo(ZONE))
    hour = at.hour % 12 or 12
    expected = f"{at:%b} {at.day}, {at.year} at {hour}:{at:%M} {'AM' if at.hour < 12 else 'PM'}"
    assert found.group(2) == expected
    assert "UTC" not in html
