"""A channel is one module and one registry line: a toy channel, defined and registered here only, gets its
route, its messages are committed, deduplicated, threaded and routed, and its replies leave through its
own `deliver`, in words it never wrote (the events' plain templates). No other change to the source."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import channels
from channels.base import BaseChannel, HookContext, HookRoute, Received, WorkerServices
from gateway import keys
from gateway.errors import Unauthorized
from gateway.ids import new_id
from gateway.models import InboundMessage, Reply, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings
from tests.conftest import Gateway, start_gateway
from tests.support.gateway import settings_from, write_config
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend

TOY_KEY = b"toy-shared-key"
RULES = """
rules:
  - id: toy-projectors
    when:
      channel: toy
      keywords: [projector]
    then:
      queue: av-team
      priority: high
"""


class ToyChannel(BaseChannel):
    """A chat service that posts {"id", "from", "text"} with a shared key, and takes replies in a list."""

    name = "toy"
    outbox: ClassVar[list[tuple[str, str, str, str]]] = []  # (recipient, event, language, text), in send order

    def routes(self) -> list[HookRoute]:
        return [HookRoute("POST", "/hooks/toy/inbox")]

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        if not hmac.compare_digest((req.header("x-toy-key") or "").encode(), TOY_KEY):
            raise Unauthorized("bad toy key")
        body = json.loads(req.raw_body)
        message = InboundMessage(
            id=new_id(),
            channel="toy",
            account="toy-desk",
            provider_id=body["id"],
            sender=body["from"],
            requester=Requester(display_name=body["from"]),
            subject=body["text"][:40],
            text=body["text"],
            language="en",
            thread_hints=ThreadHints(sender_continuity=True),
        )
        return Received([message], AckResponse(status=200, body=b"ok"))

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        self.outbox.append((reply.recipient, reply.event, reply.language, reply.text))
        return "sent"


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ToyChannel]]:
    monkeypatch.setitem(channels.CHANNELS, "toy", ToyChannel)
    ToyChannel.outbox.clear()
    yield ToyChannel
    ToyChannel.outbox.clear()


@pytest.fixture
async def toy_gateway(
    tmp_path: Path, redis_server: RedisServer, toy_registered: type[ToyChannel]
) -> AsyncIterator[Gateway]:
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = settings_from(
        write_config(tmp_path, redis_server.url, routing={"rules_file": str(tmp_path / "rules.yaml")})
    )
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def post(gw: Gateway, body: dict[str, str], key: bytes = TOY_KEY) -> tuple[int, bytes]:
    async with gw.http.post(
        gw.base + "/hooks/toy/inbox", data=json.dumps(body), headers={"X-Toy-Key": key.decode()}
    ) as r:
        return r.status, await r.read()


def tickets(settings: Settings) -> BuiltinBackend:
    return BuiltinBackend.from_settings(settings)


async def test_a_channel_registered_by_a_test_gets_its_route_and_its_requests_become_tickets(
    toy_gateway: Gateway,
) -> None:
    assert await post(toy_gateway, {"id": "m1", "from": "ana", "text": "The projector in room 12 is dead"}) == (
        200,
        b"ok",
    )
    assert (await post(toy_gateway, {"id": "m1", "from": "ana", "text": "The projector in room 12 is dead"}))[0] == 200
    assert (await post(toy_gateway, {"id": "m2", "from": "ana", "text": "It is the ceiling one."}))[0] == 200
    assert (await post(toy_gateway, {"id": "m3", "from": "ben", "text": "Can I get a new badge?"}))[0] == 200
    work_here(toy_gateway.settings)
    store = tickets(toy_gateway.settings)
    listed = sorted(store.store.export(), key=lambda t: t.id)
    assert [(t.channel, t.requester_name, t.queue, t.priority) for t in listed] == [
        ("toy", "ana", "av-team", "high"),  # routed by a rule that names the plug-in channel
        ("toy", "ben", "general", "normal"),
    ]
    # Ana's second message continued her conversation (sender continuity): a comment, not a ticket; m1 twice is once.
    assert [c.body for c in store.details(str(listed[0].id)).comments] == ["It is the ceiling one."]


async def test_the_channels_replies_leave_through_its_own_deliver_in_the_events_plain_words(
    toy_gateway: Gateway,
) -> None:
    await post(toy_gateway, {"id": "m1", "from": "ana", "text": "The projector in room 12 is dead"})
    work_here(toy_gateway.settings)
    [(recipient, event, language, text)] = ToyChannel.outbox
    assert (recipient, event, language) == ("ana", "received", "en")
    assert text.startswith("We received your request (ticket #1).")  # templates/received/plain.en.j2


async def test_a_request_the_channel_refuses_stores_nothing(toy_gateway: Gateway, redis_server: RedisServer) -> None:
    status, _ = await post(toy_gateway, {"id": "m9", "from": "eve", "text": "hello"}, key=b"wrong")
    assert status == 401
    assert redis_server.client().keys(keys.dedupe("*")) == []


async def test_without_its_registry_line_the_channel_does_not_exist(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = settings_from(write_config(tmp_path, redis_server.url))
    server, http = await start_gateway(settings)
    try:
        async with http.post(str(server.make_url("/hooks/toy/inbox")), data=b"{}") as resp:
            assert resp.status == 404
    finally:
        await http.close()
        await server.close()
