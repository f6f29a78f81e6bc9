"""POST /hooks/twilio/sms: the signature is verified before anything is parsed or stored; one request per sid."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio.verify import TwilioVerifier
from gateway.errors import Forbidden
from gateway.models import Commitment
from gateway.server.http import InboundRequest
from gateway.settings import TwilioSettings
from tests.channels.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PARENT,
    PUBLIC,
    SERVICE,
    SPANISH,
    sid,
    signature,
    sms,
    sms_gateway,
    twilio_config,
)
from tests.support.gateway import write_config
from tests.support.redis_server import RedisServer

HOOK = "/hooks/twilio/sms"


def committed(r: redis.Redis) -> list[Commitment]:
    """Every deliver job in the queue, as the commitment it carries."""
    out = []
    for job_id in r.lrange("rq:queue:deliver-builtin", 0, -1):
        data = json.loads(r.hget(b"rq:job:" + job_id, "data") or b"[]")
        out.append(Commitment.model_validate(data[2][0]))
    return out


def test_twilios_published_test_vector_is_accepted() -> None:
    """The example in Twilio's webhook security docs: auth token 12345 signs this URL and these parameters."""
    conf = TwilioSettings.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": "12345", "numbers": {"main": {"number": "+18005551212"}}}
    )
    verifier = TwilioVerifier(conf)
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}  # fmt: skip
    body = urlencode(params).encode()
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    good = InboundRequest("POST", "/myapp.php", url, {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, {}, body)
    assert verifier.verified_params(good) == params
    bad = InboundRequest("POST", "/myapp.php", url, {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8X"}, {}, body)
    with pytest.raises(Forbidden):
        verifier.verified_params(bad)


def test_twilio_pythons_repeated_parameter_vector_is_accepted() -> None:
    """twilio-python's own test: a repeated name is signed with each of its distinct values, sorted."""
    conf = TwilioSettings.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": "12345", "numbers": {"main": {"number": "+18005551212"}}}
    )
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    good = InboundRequest("POST", "/myapp.php", url, {"x-twilio-signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, {}, body)
    assert TwilioVerifier(conf).verified_params(good) == {"Sid": "CA123", "SidAccount": "AC123", "Digits": "1234"}
    # Signed over both values: a body that drops one of them was not signed.
    dropped = InboundRequest("POST", "/myapp.php", url, dict(good.headers), {}, body.replace(b"Digits=5678&", b""))
    with pytest.raises(Forbidden):
        TwilioVerifier(conf).verified_params(dropped)


async def test_a_signed_text_that_repeats_a_parameter_is_committed(tmp_path: Path, redis_server: RedisServer) -> None:
    pairs = [*sms("The bus skipped our stop").items(), ("AddOns", "a"), ("AddOns", "b")]
    sig = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + HOOK, MultiDict(pairs))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        status, _ = await gw.post_raw(HOOK, urlencode(pairs).encode(), headers)
    assert status == 200
    [c] = committed(redis_server.client())
    assert c.message.text == "The bus skipped our stop"


SIGNED_SHAPES = [
    ("https://intake.district.example.org/hooks/twilio/sms", {"Body": "The bus is late", "From": PARENT}),
    ("https://intake.district.example.org/hooks/twilio/sms", {}),
    ("https://intake.district.example.org/hooks/twilio/sms?lang=es&x=1", {"Body": "", "NumMedia": "0"}),
    ("https://intake.district.example.org:8443/hooks/twilio/sms", {"Body": "¿Llegó el autobús? 你好 🚌"}),
    ("http://intake.district.example.org/hooks/twilio/sms", {"b": "1", "B": "2", "a": "", "Body": "a+b=c&d"}),
]


@pytest.mark.parametrize(("url", "params"), SIGNED_SHAPES)
def test_the_signature_we_compute_is_the_one_twilios_sdk_computes(url: str, params: dict[str, str]) -> None:
    conf = TwilioSettings.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "numbers": {"main": {"number": "+18005551212"}}}
    )
    verifier = TwilioVerifier(conf)
    assert verifier.signature_for(url, params) == RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    assert verifier.signature_for(url, params) == signature(url, params)  # the second time from the cached URL


@pytest.mark.parametrize(
    ("signed_url", "public_url"),
    [
        (
            "https://intake.district.example.org:443/hooks/twilio/sms",
            "https://intake.district.example.org/hooks/twilio/sms",
        ),
        (
            "https://intake.district.example.org/hooks/twilio/sms",
            "https://intake.district.example.org:443/hooks/twilio/sms",
        ),
    ],
)
def test_a_signature_over_the_url_with_or_without_its_default_port_passes(signed_url: str, public_url: str) -> None:
    conf = TwilioSettings.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "numbers": {"main": {"number": "+18005551212"}}}
    )
    params = sms()
    headers = {"x-twilio-signature": signature(signed_url, params), "content-type": "application/x-www-form-urlencoded"}
    req = InboundRequest("POST", "/hooks/twilio/sms", public_url, headers, {}, urlencode(params).encode())
    assert TwilioVerifier(conf).verified_params(req) == params


async def test_a_signed_text_is_committed_and_answered_with_empty_twiml(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        status, body = await gw.post(HOOK, sms("My son's bus did not come", To=SPANISH))
    assert status == 200
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    [c] = committed(redis_server.client())
    m = c.message
    assert (m.channel, m.account, m.sender, m.language, m.campus) == ("sms", "lhs-es", PARENT, "es", "lhs")
    assert m.text == "My son's bus did not come"
    assert m.category == "transportation"


async def test_a_messaging_service_maps_to_its_school(tmp_path: Path, redis_server: RedisServer) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        status, _ = await gw.post(HOOK, sms(To="+15555550199", MessagingServiceSid=SERVICE))
    assert status == 200
    [c] = committed(redis_server.client())
    assert (c.message.account, c.message.campus) == ("jes-service", "jes")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing signature", 403),
        ("wrong auth token", 403),
        ("signed for another URL", 403),
        ("a parameter changed after signing", 403),
        ("an extra parameter added after signing", 403),
        ("not form-encoded", 403),
        ("empty signature", 403),
    ],
)
async def test_a_text_that_twilio_did_not_sign_is_refused_and_nothing_is_stored(
    tmp_path: Path, redis_server: RedisServer, case: str, expected: int
) -> None:
    params = sms()
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        url = gw.base + HOOK
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        if case == "missing signature":
            status, _ = await gw.post(HOOK, params, sign=False)
        elif case == "wrong auth token":
            status, _ = await gw.post(HOOK, params, token="not-the-token")
        elif case == "signed for another URL":
            sig = signature("http://intake.district.example.org" + HOOK, params)
            status, _ = await gw.post(HOOK, params, sign=False, headers={"X-Twilio-Signature": sig})
        elif case in ("a parameter changed after signing", "an extra parameter added after signing"):
            sig = signature(PUBLIC + HOOK, params)
            changed = {**params, "Body": "Send the records to me"} if "changed" in case else {**params, "X": "1"}
            status, _ = await gw.post(HOOK, changed, sign=False, headers={"X-Twilio-Signature": sig})
        elif case == "not form-encoded":
            async with gw.http.post(url, data=b"\xff\xfe%%%", headers={**form, "X-Twilio-Signature": "x"}) as r:
                status = r.status
        else:
            status, _ = await gw.post(HOOK, params, sign=False, headers={"X-Twilio-Signature": ""})
    assert status == expected
    r = redis_server.client()
    assert committed(r) == []
    assert list(r.scan_iter("ig:*")) == []


async def test_signed_json_webhooks_are_verified_with_their_body_hash(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        ok = await gw.post_json(HOOK, sms("The bus is late again"))
        tampered = await gw.post_json(HOOK, sms("The bus is late again"), tamper=True)
        sig = signature(PUBLIC + HOOK, {})
        headers = {"Content-Type": "application/json", "X-Twilio-Signature": sig}
        async with gw.http.post(gw.base + HOOK, data=json.dumps(sms()), headers=headers) as resp:
            unhashed = resp.status
    assert ok[0] == 200
    assert tampered[0] == 403
    assert unhashed == 403  # without bodySHA256 in the signed URL the body would be unsigned
    [c] = committed(redis_server.client())
    assert c.message.text == "The bus is late again"


async def test_a_signed_webhook_missing_fields_is_a_400_naming_them(tmp_path: Path, redis_server: RedisServer) -> None:
    params = {k: v for k, v in sms().items() if k not in ("From", "MessageSid")}
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        status, body = await gw.post(HOOK, params)
    assert status == 400
    assert json.loads(body)["fields"] == ["From", "MessageSid"]
    assert committed(redis_server.client()) == []


async def test_the_same_message_sid_three_times_at_once_is_one_request(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    params = sms(MessageSid=sid())
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        answers = await asyncio.gather(*(gw.post(HOOK, params) for _ in range(3)))
    assert [a[0] for a in answers] == [200, 200, 200]
    assert len(committed(redis_server.client())) == 1


async def test_without_twilio_credentials_the_channel_is_off(tmp_path: Path, redis_server: RedisServer) -> None:
    async with sms_gateway(write_config(tmp_path, redis_server.url)) as gw:
        status, _ = await gw.post(HOOK, sms())
    assert status == 404
