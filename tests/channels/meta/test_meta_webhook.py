"""`GET|POST /hooks/meta`: the handshake, signatures over the raw bytes, batches, duplicates and what is no request."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channels.meta.verify import check_signature, expected_signature
from gateway.errors import Forbidden, Unauthorized
from tests.channels.meta_support import (
    APP_SECRET,
    PARENT_WA,
    PAYLOADS,
    VERIFY_TOKEN,
    MetaGateway,
    commitments,
    fb_text,
    messenger,
    meta_config,
    meta_gateway,
    metric,
    sign,
    spooled,
    tickets,
    wa_text,
    whatsapp,
    work,
)
from tests.support.redis_server import RedisServer

# The vectors. The second is Meta's own warning: it signs the escaped form it sends.
ESCAPED = b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"caf\\u00e9"}}]}]}'
REWRITTEN = json.dumps(json.loads(ESCAPED), ensure_ascii=False, separators=(",", ":")).encode()


@pytest.fixture
async def gw(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[MetaGateway]:
    async with meta_gateway(meta_config(tmp_path, redis_server)) as gateway:
        yield gateway


def test_the_documented_vector() -> None:
    sig = expected_signature(b"It's a Secret to Everybody", b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize(
    ("signed", "sent", "header", "outcome"),
    [
        (ESCAPED, ESCAPED, "good", None),  # the raw bytes with their \u00e9 escape verify
        (ESCAPED, REWRITTEN, "good", Forbidden),  # the same JSON written as é is other bytes: rejected
        (ESCAPED, ESCAPED, "upper", None),  # hex in capitals is still the same signature
        (ESCAPED, ESCAPED, "sha1", Forbidden),  # an X-Hub-Signature (SHA-1) value is not accepted here
        (ESCAPED, ESCAPED, "missing", Unauthorized),
        (ESCAPED, ESCAPED, "other secret", Forbidden),
        (ESCAPED, ESCAPED + b" ", "good", Forbidden),  # one byte more
    ],
)
def test_signatures_are_checked_over_the_raw_bytes(
    signed: bytes, sent: bytes, header: str, outcome: type[Exception] | None
) -> None:
    value: str | None = {
        "good": sign(signed),
        "upper": "sha256=" + sign(signed).removeprefix("sha256=").upper(),
        "sha1": "sha1=" + sign(signed).removeprefix("sha256=")[:40],
        "missing": None,
        "other secret": sign(signed, "not-the-app-secret"),
    }[header]
    if outcome is None:
        check_signature(APP_SECRET.encode(), sent, value)
    else:
        with pytest.raises(outcome):
            check_signature(APP_SECRET.encode(), sent, value)


@pytest.mark.parametrize(
    ("header", "status"), [(None, 401), ("sha256=" + "0" * 64, 403), ("garbage", 403), ("other", 403)]
)
async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    gw: MetaGateway, redis_server: RedisServer, header: str | None, status: int
) -> None:
    body = json.dumps(whatsapp(wa_text("The bus did not come"))).encode()
    value = sign(body, "not-the-app-secret") if header == "other" else header
    got, text = await gw.post_raw(body, signature=value)
    assert got == status
    assert "bus" not in text
    assert redis_server.client().keys("ig:*") == []
    assert redis_server.client().keys("rq:*") == []


async def test_the_escaped_body_verifies_at_the_webhook_and_its_rewritten_form_is_refused(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    body = json.dumps(messenger(fb_text("Caf\u00e9 menu question"))).encode()  # sent as Meta sends it: \u00e9
    assert b"\\u00e9" in body
    rewritten = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert (await gw.post_raw(rewritten, signature=sign(body)))[0] == 403
    assert commitments(redis_server) == []
    assert (await gw.post_raw(body, signature=sign(body)))[0] == 200
    [c] = commitments(redis_server)
    assert c.message.text == "Caf\u00e9 menu question"


@pytest.mark.parametrize(
    ("query", "status", "answer"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}, 200, "1158201444"),
        ({"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1158201444"}, 403, None),
        ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 403, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403, None),
    ],
)
async def test_the_subscription_handshake_echoes_the_challenge_only_for_our_verify_token(
    gw: MetaGateway, query: dict[str, str], status: int, answer: str | None
) -> None:
    async with gw.http.get(gw.base + "/hooks/meta", params=query) as resp:
        assert resp.status == status
        if answer is not None:
            assert await resp.text() == answer


async def test_a_batch_of_entries_commits_each_message_on_its_own_id_and_ignores_the_rest(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    status, _ = await gw.post_raw((PAYLOADS / "messenger_batch.json").read_bytes())
    assert status == 200
    stored = commitments(redis_server)
    assert sorted(c.message.provider_id or "" for c in stored) == [
        "m_batch-file-2",
        "m_batch-photo-1",
        "m_batch-text-2",
    ]
    assert {c.message.channel for c in stored} == {"messenger"}
    # The second sender's two messages in one batch are one conversation: the second continues the first.
    second = [c for c in stored if c.message.sender == "messenger:7100000000000002"]
    assert [c.evidence for c in second] == ["new", "sender_continuity"]
    assert second[1].conversation == second[0].conversation
    for reason in ("echo", "read", "reaction", "delivery"):
        assert await metric(gw, "intake_ignored_total", channel="meta", reason=reason) == 1


async def test_the_same_batch_delivered_three_times_at_once_is_one_request_per_message(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    now = time.time()
    batch = json.dumps(whatsapp(wa_text("Bus 12 is late", at=now - 3), wa_text("Now it is here", at=now - 2),
                                wa_text("Thanks", sender="15557770000", at=now - 1))).encode()  # fmt: skip
    answers = await asyncio.gather(*(gw.post_raw(batch) for _ in range(3)))
    assert [a[0] for a in answers] == [200, 200, 200]
    assert len(commitments(redis_server)) == 3
    assert await metric(gw, "intake_duplicates_total", channel="whatsapp") == 6
    work(gw.config)
    assert len(tickets(gw.config)) == 2  # two senders; the first one's second message continued their request


async def test_redis_down_gives_the_spool_then_one_ticket_each(gw: MetaGateway, redis_server: RedisServer) -> None:
    redis_server.stop(kill=True)
    batch = json.dumps(whatsapp(wa_text("Bus 12 is late"), wa_text("Other question", sender="15557770000"))).encode()
    assert (await gw.post_raw(batch))[0] == 200
    assert (await gw.post_raw(batch))[0] == 200  # Meta's retry while Redis is still down
    redis_server.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and spooled(gw.settings) > 0:
        await asyncio.sleep(0.1)
    assert spooled(gw.settings) == 0
    work(gw.config)
    assert len(tickets(gw.config)) == 2


async def test_receipts_that_cannot_be_recorded_ask_meta_to_deliver_again(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    redis_server.stop(kill=True)
    assert (await gw.post_raw((PAYLOADS / "whatsapp_statuses.json").read_bytes()))[0] == 503
    redis_server.start()
    assert (await gw.post_raw((PAYLOADS / "whatsapp_statuses.json").read_bytes()))[0] == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b"[1, 2]", 400), (b'{"object": "page"}', 400), (b'{"entry": []}', 400)],
)
async def test_a_signed_body_that_is_no_meta_webhook_is_refused_naming_what_is_wrong(
    gw: MetaGateway, redis_server: RedisServer, body: bytes, status: int
) -> None:
    got, text = await gw.post_raw(body)
    assert got == status
    assert json.loads(text)["fields"]
    assert redis_server.client().keys("rq:*") == []


async def test_an_object_we_do_not_take_is_acknowledged_and_counted(gw: MetaGateway, redis_server: RedisServer) -> None:
    status, _ = await gw.post({"object": "permissions", "entry": [{"id": "1", "changes": []}]})
    assert status == 200
    assert commitments(redis_server) == []
    assert await metric(gw, "intake_ignored_total", channel="meta", reason="unsupported_object") == 1


async def test_whatsapp_receipts_are_no_request(gw: MetaGateway, redis_server: RedisServer) -> None:
    status, _ = await gw.post_raw((PAYLOADS / "whatsapp_statuses.json").read_bytes())
    assert status == 200
    assert commitments(redis_server) == []
    assert await metric(gw, "intake_ignored_total", channel="meta", reason="receipt") == 2


async def test_instagram_messages_are_their_own_channel_and_unsent_ones_are_ignored(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    assert (await gw.post_raw((PAYLOADS / "instagram_messages.json").read_bytes()))[0] == 200
    stored = commitments(redis_server)
    assert [c.message.channel for c in stored] == ["instagram", "instagram"]
    assert stored[0].message.sender == "instagram:1780000000000000001"
    assert stored[0].message.account == "main"
    assert "story_mention" in stored[1].message.text
    assert await metric(gw, "intake_ignored_total", channel="meta", reason="deleted") == 1


async def test_a_whatsapp_sender_is_their_phone_number(gw: MetaGateway, redis_server: RedisServer) -> None:
    assert (await gw.post(whatsapp(wa_text("Hola"))))[0] == 200
    [c] = commitments(redis_server)
    assert c.message.sender == f"+{PARENT_WA}" and c.message.requester.phone == f"+{PARENT_WA}"
    assert c.message.requester.display_name == "Lan Tran"
    assert (c.message.account, c.message.campus, c.message.category) == ("main", "lhs", "attendance")


async def test_a_messenger_message_to_a_page_that_is_not_configured_is_kept_under_the_first_page(
    gw: MetaGateway, redis_server: RedisServer
) -> None:
    assert (await gw.post(messenger(fb_text("hello", page="999"), page="999")))[0] == 200
    [c] = commitments(redis_server)
    assert c.message.account == "main"
