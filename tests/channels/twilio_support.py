"""Twilio test helpers: a gateway configured for SMS, and webhooks signed by Twilio's own RequestValidator."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from gateway.settings import Settings
from tests.conftest import start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "test-twilio-auth-token-0c4f"
PUBLIC = "https://intake.district.example.org"  # what Twilio signs: we sit behind a proxy
MAIN = "+15555550100"
SPANISH = "+15555550111"
SERVICE = "MG" + "7a" * 16
PARENT = "+15552013344"


def twilio_settings(standin: TwilioStandIn | None = None, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "api_base_url": standin.base_url if standin else "",
        "ca_file": str(standin.ca_file) if standin else "",
        "numbers": {
            "main": {"number": MAIN, "school": "district", "department": "general", "language": "en"},
            "lhs-es": {"number": SPANISH, "school": "lhs", "department": "transportation", "language": "es"},
            "jes-service": {"messaging_service_sid": SERVICE, "school": "jes", "language": "en"},
        },
        "quiet_hours": "",
        "sends_per_second_per_number": 50,
    }
    conf.update(extra)
    return conf


def twilio_config(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn | None = None, **extra: Any
) -> Path:
    return write_config(
        tmp_path,
        redis_server.url,
        server={"public_base_url": PUBLIC},
        channels={"twilio": twilio_settings(standin, **extra)},
    )


def sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def sms(body: str = "The 7:10 bus to Lincoln did not come this morning.", **overrides: str) -> dict[str, str]:
    """An inbound SMS webhook's parameters, as Twilio documents them."""
    params = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": "", "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": "", "FromState": "CA", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "US", "To": MAIN, "ToZip": "", "NumSegments": "1", "MessageSid": "",
        "AccountSid": ACCOUNT_SID, "From": PARENT, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    message_sid = overrides.pop("MessageSid", None) or sid()
    params.update(MessageSid=message_sid, SmsSid=message_sid, SmsMessageSid=message_sid)
    params.update(overrides)
    return params


def signature(url: str, params: dict[str, str] | str, token: str = AUTH_TOKEN) -> str:
    validator = RequestValidator(token)
    return str(validator.compute_signature(url, params if isinstance(params, dict) else {}))


class SmsGateway:
    """The gateway on a real loopback port, configured for Twilio, and signed posts to it."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, settings: Settings, config: Path) -> None:
        self.server, self.http, self.settings, self.config = server, http, settings, config

    @property
    def base(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        sign: bool = True,
        token: str = AUTH_TOKEN,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """A form-encoded webhook signed over the public URL, the way Twilio sends it."""
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            hdrs["X-Twilio-Signature"] = signature(PUBLIC + path, params, token)
        hdrs.update(headers or {})
        async with self.http.post(self.base + path, data=urlencode(params), headers=hdrs) as resp:
            return resp.status, await resp.text()

    async def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(self.base + path, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def post_json(self, path: str, payload: dict[str, Any], *, tamper: bool = False) -> tuple[int, str]:
        """A JSON webhook: the body's SHA-256 travels in the signed URL (bodySHA256)."""
        body = json.dumps(payload).encode()
        signed_path = f"{path}?bodySHA256={hashlib.sha256(body).hexdigest()}"
        hdrs = {"Content-Type": "application/json", "X-Twilio-Signature": signature(PUBLIC + signed_path, {})}
        if tamper:
            body = body.replace(b"bus", b"bum", 1)  # one byte changed after signing
        async with self.http.post(self.base + signed_path, data=body, headers=hdrs) as resp:
            return resp.status, await resp.text()


@asynccontextmanager
async def sms_gateway(config: Path) -> AsyncIterator[SmsGateway]:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        yield SmsGateway(server, http, settings, config)
    finally:
        await http.close()
        await server.close()


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]


def tickets(config: Path) -> list[dict[str, object]]:
    return list(json.loads(intake(config, "tickets", "list", "--json", "--per-page", "500").stdout)["tickets"])


def texts(api: TwilioStandIn) -> list[dict[str, str]]:
    return [r.form for r in api.created()]


async def text_in(gw: SmsGateway, body: str, **params: str) -> None:
    status, _ = await gw.post("/hooks/twilio/sms", sms(body, **params))
    assert status == 200
