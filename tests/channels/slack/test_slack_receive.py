"""No channel commits on its own: Slack's `receive` hands its messages back, a reply in a thread marked to be
committed only if the thread is ours, and writes nothing itself; the pipeline commits them as it commits every
channel's. Nothing of one request is kept on the shared channel object, so requests at once keep their own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channels.base import HookContext, Received
from channels.slack.channel import SlackChannel
from gateway.server.http import InboundRequest
from gateway.store.blobs import FileBlobStore
from gateway.store.redis_conn import async_client
from tests.channels.slack_support import event
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer
from tests.support.slack_api import signed_headers

PATH = "/hooks/slack/events"


@pytest.fixture
async def slack(slack_config_path: Path, tmp_path: Path) -> AsyncIterator[tuple[SlackChannel, HookContext]]:
    settings = settings_from(slack_config_path)
    client = async_client(settings)
    yield SlackChannel(settings, FileBlobStore(tmp_path / "blobs")), HookContext(redis=client)
    await client.aclose()


async def receive(slack: tuple[SlackChannel, HookContext], body: dict[str, Any]) -> Received:
    channel, hook = slack
    raw = json.dumps(body).encode()
    headers = {k.lower(): v for k, v in signed_headers(raw).items()}
    return await channel.receive(InboundRequest("POST", PATH, "https://gw.example.org" + PATH, headers, {}, raw), hook)


async def test_receive_hands_back_a_direct_message_and_stores_nothing_itself(
    slack: tuple[SlackChannel, HookContext], redis_server: RedisServer
) -> None:
    received = await receive(slack, event())
    assert [(m.channel, m.sender) for m in received.messages] == [("slack", "U0TEACHER1")]
    assert received.messages[0].text.startswith("The projector in room 204")
    assert (list(received.threaded_only), received.ack.status) == ([], 200)
    assert redis_server.client().dbsize() == 0  # no claim, no conversation, no job: committing is the pipeline's


async def test_a_reply_in_a_thread_comes_back_marked_only_if_the_thread_is_ours(
    slack: tuple[SlackChannel, HookContext], redis_server: RedisServer
) -> None:
    received = await receive(slack, event("event_thread_reply.json", thread_ts="1699999999.000001"))
    assert list(received.messages) == []
    assert [(m.sender, m.text) for m in received.threaded_only] == [
        ("U0TEACHER2", "Same in room 110 since this morning.")
    ]
    assert redis_server.client().dbsize() == 0


async def test_requests_received_at_once_each_get_their_own_messages(slack: tuple[SlackChannel, HookContext]) -> None:
    """Per-request state on the shared channel (the old `self.redis = client`) would mix these up."""
    bodies = [event(user=f"U0TEACH{n:03d}", text=f"Request number {n}") for n in range(40)]
    results = await asyncio.gather(*(receive(slack, b) for b in bodies))
    got = [[(m.sender, m.text) for m in r.messages] for r in results]
    assert got == [[(f"U0TEACH{n:03d}", f"Request number {n}")] for n in range(40)]
