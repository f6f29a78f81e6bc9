"""`GET|POST /hooks/x`: the CRC check, signatures over the raw body, direct messages committed on their event ids."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channels.x.verify import sign
from tests.channels.meta_support import commitments, metric, spooled, tickets, work
from tests.channels.x_support import ACCOUNT, PAYLOADS, ROSA, XGateway, dm, x_config, x_gateway, x_sign
from tests.support.redis_server import RedisServer
from tests.support.x_api import XStandIn


@pytest.fixture
async def gw(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[XGateway]:
    async with x_gateway(x_config(tmp_path, redis_server)) as gateway:
        yield gateway


def test_the_crc_vector() -> None:
    secret = b"z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"
    assert (
        sign(secret, b"9b4507b3-9040-4669-9ca3-6b94edb50553") == "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8="
    )


async def test_the_crc_check_is_answered_with_the_signed_token(gw: XGateway) -> None:
    async with gw.http.get(gw.base + "/hooks/x", params={"crc_token": "9b4507b3-9040-4669-9ca3-6b94edb50553"}) as r:
        assert r.status == 200
        assert await r.json() == {"response_token": x_sign(b"9b4507b3-9040-4669-9ca3-6b94edb50553")}
    async with gw.http.get(gw.base + "/hooks/x") as r:
        assert r.status == 400


@pytest.mark.parametrize(("signature", "status"), [(None, 401), ("sha256=AAAA", 403), ("other", 403), ("tamper", 403)])
async def test_a_bad_or_missing_signature_is_refused_and_nothing_stored(
    gw: XGateway, redis_server: RedisServer, signature: str | None, status: int
) -> None:
    body = json.dumps(dm("My son's bus pass")).encode()
    value = {"other": x_sign(body, "another-secret"), "tamper": x_sign(body + b" ")}.get(signature or "", signature)
    assert (await gw.post_raw(body, signature=value))[0] == status
    assert redis_server.client().keys("ig:*") == [] and redis_server.client().keys("rq:*") == []


async def test_a_direct_message_is_a_request_and_its_echo_is_not(gw: XGateway, redis_server: RedisServer) -> None:
    assert (await gw.post_raw((PAYLOADS / "dm_message.json").read_bytes()))[0] == 200
    assert (await gw.post_raw((PAYLOADS / "dm_echo_and_media.json").read_bytes()))[0] == 200
    first, second = commitments(redis_server)
    assert (first.message.channel, first.message.account, first.message.sender) == ("x", ACCOUNT, f"x:{ROSA}")
    assert first.message.text == "The lunch menu link is broken: https://district.example.org/lunch"
    assert first.message.requester.display_name == "Rosa Alvarez"
    assert first.message.requester.handles == {"x": "@rosa_alvarez_atx"}
    assert second.conversation == first.conversation  # the same person: their open request continues
    [photo] = second.message.attachments
    assert not photo.kept and "stays at X" in (photo.reason or "")
    assert await metric(gw, "intake_ignored_total", channel="x", reason="echo") == 1


async def test_one_event_delivered_three_times_at_once_is_one_request(gw: XGateway, redis_server: RedisServer) -> None:
    body = json.dumps(dm("Where do I pick up the laptop?", ident="1864000000000009999")).encode()
    answers = await asyncio.gather(*(gw.post_raw(body) for _ in range(3)))
    assert [a[0] for a in answers] == [200, 200, 200]
    assert len(commitments(redis_server)) == 1


@pytest.mark.parametrize("name", ["typing_and_read.json", "tweet_create.json"])
async def test_other_activity_is_acknowledged_and_counted(gw: XGateway, redis_server: RedisServer, name: str) -> None:
    assert (await gw.post_raw((PAYLOADS / name).read_bytes()))[0] == 200
    assert commitments(redis_server) == []


async def test_a_signed_body_that_is_no_activity_is_refused_naming_what_is_wrong(gw: XGateway) -> None:
    status, text = await gw.post_raw(b'{"direct_message_events": []}')
    assert status == 400 and json.loads(text)["fields"] == ["for_user_id"]


async def test_redis_down_gives_the_spool_then_one_ticket_each(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    first = json.dumps(dm("The bus did not come", ident="1864000000000001111")).encode()
    other = json.dumps(dm("Another question", sender="2244000009", ident="1864000000000002222")).encode()
    config = x_config(tmp_path, redis_server, x_api)
    async with x_gateway(config) as gw:
        redis_server.stop(kill=True)
        for body in (first, other, first):  # X delivers the first one again while Redis is still away
            assert (await gw.post_raw(body))[0] == 200
        redis_server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and spooled(gw.settings) > 0:
            await asyncio.sleep(0.1)
        assert spooled(gw.settings) == 0
    work(config)
    assert sorted(t["subject"] for t in tickets(config)) == ["Another question", "The bus did not come"]
    assert sorted(d.participant for d in x_api.sent) == sorted([ROSA, "2244000009"])
