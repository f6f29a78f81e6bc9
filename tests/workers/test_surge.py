"""Surge detection: similar requests from one school in a short time become a proposal an operator confirms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import keys
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer

THRESHOLD = 4


@pytest.fixture
def surge_config(tmp_path: Path, redis_server: RedisServer) -> Path:
    return write_config(tmp_path, redis_server.url, incidents={"surge_threshold": THRESHOLD})


@pytest.fixture
async def surge_gateway(surge_config: Path) -> AsyncIterator[Gateway]:
    settings = settings_from(surge_config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def post(gateway: Gateway, n: int, school: str = "lhs", start: int = 0) -> list[str]:
    out = []
    for i in range(start, start + n):
        text = f"The projector in room {i} shows nothing at all"
        body = form(school=school, category="devices", language="en" if i % 2 else "es", message=text,
                    email=f"parent{i}@example.org")  # fmt: skip
        resp = await gateway.post_form(body)
        assert resp.status == 202
        out.append(str((await resp.json())["request_id"]))
    return out


def reply_events(redis_server: RedisServer, conv: str) -> list[str]:
    entries = [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]
    return [e["reply_event"] for e in entries if e["event"] == "reply"]


def incidents(config: Path) -> list[dict[str, object]]:
    listing = intake(config, "incident", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    return list(json.loads(listing.stdout))


async def metric(gateway: Gateway, name: str) -> float:
    text = await (await gateway.http.get(gateway.base + "/metrics")).text()
    [line] = [ln for ln in text.splitlines() if ln.startswith(name + " ") or ln.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


async def test_similar_requests_from_one_school_make_a_proposal_that_links_and_messages_nobody(
    surge_gateway: Gateway, surge_config: Path, redis_server: RedisServer
) -> None:
    requests = await post(surge_gateway, THRESHOLD + 1)
    assert intake(surge_config, "worker", "--burst").returncode == 0

    [proposal] = incidents(surge_config)
    assert proposal["state"] == "proposed"
    assert proposal["origin"] == "surge"
    assert proposal["parent_ref"] == ""  # no parent ticket until someone confirms it
    assert proposal["children"] == 0
    for rid in requests:
        assert reply_events(redis_server, rid) == ["received"]
        assert redis_server.client().hget(keys.request(rid), "incident") is None
    shown = intake(surge_config, "incident", "list").stdout
    assert "proposed" in shown and "intake incident confirm 1" in shown
    assert await metric(surge_gateway, 'intake_incidents{state="proposed"}') == 1
    assert await metric(surge_gateway, "intake_incident_proposals") == 1


async def test_confirming_a_proposal_links_its_requests_tells_them_and_links_the_next_ones(
    surge_gateway: Gateway, surge_config: Path, redis_server: RedisServer
) -> None:
    first = await post(surge_gateway, THRESHOLD + 1)
    assert intake(surge_config, "worker", "--burst").returncode == 0
    confirmed = intake(surge_config, "incident", "confirm", "1", "--title", "Projectors at Lincoln")
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"{THRESHOLD + 1} request(s) linked and told" in confirmed.stdout
    [later] = await post(surge_gateway, 1, start=50)
    assert intake(surge_config, "worker", "--burst").returncode == 0

    for rid in first:
        assert reply_events(redis_server, rid) == ["received", "incident_update"]
    assert reply_events(redis_server, later) == ["incident_update"]
    [incident] = incidents(surge_config)
    assert (incident["state"], incident["title"], incident["children"]) == ("open", "Projectors at Lincoln", 6)
    assert await metric(surge_gateway, 'intake_incidents{state="open"}') == 1
    assert await metric(surge_gateway, 'intake_incidents{state="proposed"}') == 0


async def test_a_dismissed_proposal_links_nobody_and_is_not_proposed_again_in_the_same_window(
    surge_gateway: Gateway, surge_config: Path, redis_server: RedisServer
) -> None:
    await post(surge_gateway, THRESHOLD)
    assert intake(surge_config, "worker", "--burst").returncode == 0
    assert intake(surge_config, "incident", "dismiss", "1").returncode == 0
    more = await post(surge_gateway, 2, start=10)
    assert intake(surge_config, "worker", "--burst").returncode == 0
    assert [i["state"] for i in incidents(surge_config)] == ["dismissed"]
    assert all(reply_events(redis_server, rid) == ["received"] for rid in more)
    refused = intake(surge_config, "incident", "confirm", "1")
    assert refused.returncode == 1 and "incident 1 is dismissed, not proposed" in refused.stderr


async def test_requests_from_different_schools_do_not_add_up_to_a_surge(
    surge_gateway: Gateway, surge_config: Path
) -> None:
    await post(surge_gateway, THRESHOLD - 1, school="lhs")
    await post(surge_gateway, THRESHOLD - 1, school="wms", start=10)
    assert intake(surge_config, "worker", "--burst").returncode == 0
    assert incidents(surge_config) == []
