"""POST /hooks/webform: authentication, bad input and idempotency, each asserting what was stored."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway import keys, signatures
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import SIGNING_SECRET, TOKEN, settings_from, write_config
from tests.support.redis_server import RedisServer

SIG = "X-Intake-Signature"
KEY = "Idempotency-Key"


def ig_keys(redis_server: RedisServer) -> list[bytes]:
    """What a request stored: every key but the rate limits' counts (which hold nothing of the request)."""
    return [k for k in redis_server.client().scan_iter("ig:*") if not k.startswith(b"ig:limit:")]


def queued(redis_server: RedisServer) -> int:
    return int(redis_server.client().llen("rq:queue:deliver-builtin"))


async def test_bearer_token_submission_is_committed_and_answered_202(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    resp = await gateway.post_form(form())
    body = await resp.json()
    assert resp.status == 202
    assert body["status_url"].startswith(gateway.base + "/status/" + body["request_id"] + ".")
    assert redis_server.client().get(keys.dedupe(_only_dedupe(redis_server))) == body["request_id"].encode()
    assert queued(redis_server) == 1


def _only_dedupe(redis_server: RedisServer) -> str:
    found = [k.decode().split(":")[-1] for k in redis_server.client().scan_iter("ig:dedupe:*")]
    assert len(found) == 1
    return found[0]


async def test_hmac_signed_submission_is_accepted(gateway: Gateway, redis_server: RedisServer) -> None:
    resp = await gateway.post_form(form(), sign=True)
    assert resp.status == 202
    assert queued(redis_server) == 1


BAD_CREDENTIALS = [
    ("no credentials", {}),
    ("wrong bearer token", {"Authorization": "Bearer not-the-token"}),
    ("empty bearer", {"Authorization": "Bearer "}),
    ("basic auth", {"Authorization": "Basic dGVzdDp0ZXN0"}),
    ("signature of another body", {"X-Intake-Signature": "sha256=" + "0" * 64}),
    ("signature without prefix", {"X-Intake-Signature": "deadbeef"}),
    ("signature with the token as secret", {"X-Intake-Signature": "sha256=SIGNED_WITH_TOKEN"}),
]


@pytest.mark.parametrize(("case", "headers"), BAD_CREDENTIALS, ids=[c for c, _ in BAD_CREDENTIALS])
async def test_bad_credentials_get_401_and_nothing_is_stored(
    gateway: Gateway, redis_server: RedisServer, case: str, headers: dict[str, str]
) -> None:
    body = json.dumps(form()).encode()
    if headers.get("X-Intake-Signature") == "sha256=SIGNED_WITH_TOKEN":
        headers = {"X-Intake-Signature": "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()}
    resp = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthorized"
    assert ig_keys(redis_server) == []
    assert queued(redis_server) == 0


async def test_signature_over_a_body_changed_by_one_byte_is_refused(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    body = json.dumps(form()).encode()
    header = signatures.sign(SIGNING_SECRET.encode(), body, time.time())
    tampered = body.replace(b"7:10", b"7:11")
    resp = await gateway.http.post(gateway.base + "/hooks/webform", data=tampered, headers={SIG: header})
    assert resp.status == 401
    assert ig_keys(redis_server) == []


def stamped(body: bytes, at: float, secret: str = SIGNING_SECRET) -> dict[str, str]:
    return {SIG: signatures.sign(secret.encode(), body, at), "Content-Type": "application/json"}


SIGNED_BADLY = [
    ("an hour old", lambda b: stamped(b, time.time() - 3600)),
    ("an hour ahead", lambda b: stamped(b, time.time() + 3600)),
    ("a timestamp changed after signing", lambda b: {SIG: stamped(b, time.time())[SIG].replace("t=1", "t=2", 1)}),
    ("signed with the token", lambda b: stamped(b, time.time(), TOKEN)),
    ("no timestamp", lambda b: {SIG: "v1=" + stamped(b, time.time())[SIG].rsplit("v1=", 1)[1]}),
    ("no signature", lambda b: {SIG: f"t={int(time.time())}"}),
    ("a timestamp that is not a number", lambda b: {SIG: stamped(b, time.time())[SIG].replace("t=", "t=x", 1)}),
    ("the body alone, from a source not marked legacy",
     lambda b: {SIG: "sha256=" + hmac.new(SIGNING_SECRET.encode(), b, hashlib.sha256).hexdigest()}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make"), SIGNED_BADLY, ids=[c for c, _ in SIGNED_BADLY])
async def test_a_badly_signed_post_is_401_and_nothing_is_stored(
    gateway: Gateway, redis_server: RedisServer, case: str, make: Callable[[bytes], dict[str, str]]
) -> None:
    body = json.dumps(form()).encode()
    resp = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers=make(body))
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthorized"
    assert ig_keys(redis_server) == []
    assert queued(redis_server) == 0


async def test_a_stale_signature_is_told_apart_from_a_wrong_one(gateway: Gateway) -> None:
    body = json.dumps(form()).encode()
    stale = await gateway.http.post(
        gateway.base + "/hooks/webform", data=body, headers=stamped(body, time.time() - 301)
    )
    legacy = {SIG: "sha256=" + hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()}
    old_form = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers=legacy)
    assert "300 seconds" in (await stale.json())["message"]
    assert "legacy_signature" in (await old_form.json())["message"]


async def test_a_signature_a_few_minutes_old_is_still_taken(gateway: Gateway, redis_server: RedisServer) -> None:
    body = json.dumps(form()).encode()
    resp = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers=stamped(body, time.time() - 200))
    assert resp.status == 202
    assert queued(redis_server) == 1


async def test_a_replayed_signed_post_with_a_new_idempotency_key_is_the_same_request(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    """The key header is not signed: anyone who saw the post could change it. The body is, so it decides."""
    body = json.dumps(form()).encode()
    headers = stamped(body, time.time())
    first = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers={**headers, KEY: "a"})
    replays = [
        await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers={**headers, KEY: f"replay-{i}"})
        for i in range(3)
    ]
    # The sender's own retry signs again, with a new timestamp: still the same request.
    resigned = await gateway.http.post(
        gateway.base + "/hooks/webform", data=body, headers=stamped(body, time.time() + 1)
    )
    ids = {(await r.json())["request_id"] for r in [first, *replays, resigned]}
    assert [r.status for r in [first, *replays, resigned]] == [202] * 5
    assert len(ids) == 1
    assert queued(redis_server) == 1


async def test_two_signed_posts_with_different_bodies_are_two_requests(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    for response_id in ("resp-1", "resp-2"):  # a forms script keeps identical answers apart with a field of its own
        body = json.dumps({**form(), "response_id": response_id}).encode()
        resp = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers=stamped(body, time.time()))
        assert resp.status == 202
    assert queued(redis_server) == 2


async def test_a_source_marked_legacy_may_still_sign_the_body_alone(tmp_path: Path, redis_server: RedisServer) -> None:
    legacy_secret = "legacy-secret-0f0f"
    sources = {"old-site": {"signing_secret": legacy_secret, "legacy_signature": True}}
    config = write_config(tmp_path, redis_server.url, channels={"webform": {"sources": sources}})
    server, http = await start_gateway(settings_from(config))
    try:
        body = json.dumps(form()).encode()
        header = {SIG: "sha256=" + hmac.new(legacy_secret.encode(), body, hashlib.sha256).hexdigest()}
        answers = [await http.post(str(server.make_url("/hooks/webform")), data=body, headers=header) for _ in range(2)]
        # The demo source is not legacy: its secret's body-only signature is still refused.
        demo = {SIG: "sha256=" + hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()}
        refused = await http.post(str(server.make_url("/hooks/webform")), data=body, headers=demo)
        assert [a.status for a in answers] == [202, 202]
        assert refused.status == 401
        # A replay of a legacy post is the first request again, never a new one.
        assert len({(await a.json())["request_id"] for a in answers}) == 1
        assert queued(redis_server) == 1
    finally:
        await http.close()
        await server.close()


async def test_malformed_json_is_400_naming_the_body(gateway: Gateway, redis_server: RedisServer) -> None:
    resp = await gateway.post_form(b'{"message": "unterminated')
    assert resp.status == 400
    assert "JSON" in (await resp.json())["message"]
    assert ig_keys(redis_server) == []


INVALID = [
    ("missing message", {"message": None}, "message"),
    ("empty message", {"message": "   "}, "message"),
    ("message is a number", {"message": 42}, "message"),
    ("category is a list", {"category": ["transportation"]}, "category"),
    ("no way to answer", {"email": None, "phone": None}, "email"),
    ("bad email", {"email": "ana at example"}, "email"),
    ("bad phone", {"email": None, "phone": "call me maybe"}, "phone"),
    (
        "attachment not base64",
        {"attachments": [{"filename": "a.png", "data_base64": "***"}]},
        "attachments.0.data_base64",
    ),
]


@pytest.mark.parametrize(("case", "change", "field"), INVALID, ids=[c for c, _, _ in INVALID])
async def test_invalid_fields_are_422_naming_the_field(
    gateway: Gateway, redis_server: RedisServer, case: str, change: dict[str, object], field: str
) -> None:
    body = form(**change)
    body = {k: v for k, v in body.items() if v is not None}
    resp = await gateway.post_form(body)
    answer = await resp.json()
    assert resp.status == 422
    assert field in answer["fields"]
    assert ig_keys(redis_server) == []


async def test_unknown_category_and_school_list_the_valid_values(gateway: Gateway, redis_server: RedisServer) -> None:
    resp = await gateway.post_form(form(category="buses", school="hogwarts"))
    answer = await resp.json()
    assert resp.status == 422
    assert set(answer["fields"]) == {"category", "school"}
    assert "transportation" in answer["valid"]["category"]
    assert "lhs" in answer["valid"]["school"]
    assert ig_keys(redis_server) == []


async def test_body_over_the_limit_is_413_before_anything_else(gateway: Gateway, redis_server: RedisServer) -> None:
    limit = gateway.settings.server.max_body_bytes
    resp = await gateway.post_form(form(message="x" * (limit + 10)), token="wrong-token")
    assert resp.status == 413
    assert ig_keys(redis_server) == []


async def test_chunked_body_over_the_limit_is_413(gateway: Gateway, redis_server: RedisServer) -> None:
    limit = gateway.settings.server.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    resp = await gateway.http.post(
        gateway.base + "/hooks/webform", data=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == 413
    assert ig_keys(redis_server) == []


async def test_same_idempotency_key_three_times_concurrently_is_one_request(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    responses = await asyncio.gather(*(gateway.post_form(form(), key="retry-me-1") for _ in range(3)))
    ids = {(await r.json())["request_id"] for r in responses}
    assert [r.status for r in responses] == [202, 202, 202]
    assert len(ids) == 1
    assert queued(redis_server) == 1


async def test_same_idempotency_key_later_returns_the_first_request_id(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    first = await (await gateway.post_form(form(), key="k-2")).json()
    again = await gateway.post_form(form(message="edited text, same key"), key="k-2")
    assert again.status == 202
    assert (await again.json())["request_id"] == first["request_id"]
    assert queued(redis_server) == 1


async def test_different_idempotency_keys_are_different_requests(gateway: Gateway, redis_server: RedisServer) -> None:
    a = await (await gateway.post_form(form(), key="a")).json()
    b = await (await gateway.post_form(form(), key="b")).json()
    assert a["request_id"] != b["request_id"]
    assert queued(redis_server) == 2


async def test_identical_body_without_key_is_deduplicated(gateway: Gateway, redis_server: RedisServer) -> None:
    a = await (await gateway.post_form(form())).json()
    b = await (await gateway.post_form(form())).json()
    assert a["request_id"] == b["request_id"]
    assert queued(redis_server) == 1


async def test_overlong_idempotency_key_is_400(gateway: Gateway, redis_server: RedisServer) -> None:
    resp = await gateway.post_form(form(), key="k" * 201)
    assert resp.status == 400
    assert ig_keys(redis_server) == []


async def test_unknown_channel_hook_is_404(gateway: Gateway) -> None:
    resp = await gateway.http.post(gateway.base + "/hooks/carrier-pigeon", data=b"{}")
    assert resp.status == 404


async def test_a_post_naming_a_host_we_were_not_configured_as_is_421_and_nothing_is_stored(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    """Without server.public_base_url the answer's status link would be built on that Host."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Host": "attacker.example"}
    resp = await gateway.http.post(gateway.base + "/hooks/webform", json=form(), headers=headers)
    assert resp.status == 421
    assert "public_base_url" in (await resp.json())["message"]
    assert ig_keys(redis_server) == []
    assert queued(redis_server) == 0


async def test_with_a_public_base_url_the_link_uses_it_whatever_the_host_says(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url, server={"public_base_url": "https://help.district.example.org"})
    server, http = await start_gateway(settings_from(config))
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Host": "attacker.example"}
        resp = await http.post(str(server.make_url("/hooks/webform")), json=form(), headers=headers)
        assert resp.status == 202
        assert (await resp.json())["status_url"].startswith("https://help.district.example.org/status/")
    finally:
        await http.close()
        await server.close()
