"""MMS pictures and recordings: fetched by a worker through the SSRF-safe fetcher, stored, then deleted at Twilio.

The refusals are proven in process with an audit hook on socket connections: a URL aimed at the cloud
metadata address, or a redirect into a private network, is refused before any connection is attempted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.store.safe_fetch import FetchRefused, fetch
from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, sid, sms, sms_gateway, tickets, twilio_config, work
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import Failure, TwilioStandIn

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
_connects: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _connects is not None and event in ("socket.connect", "socket.getaddrinfo"):
        _connects.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def connections() -> Iterator[list[Any]]:
    """Every connect (and name lookup) this process makes while the test runs."""
    global _connects
    _connects = []
    yield _connects
    _connects = None


def allowed(standin: TwilioStandIn, *extra: str) -> dict[str, Any]:
    return {
        "allowed_hosts": frozenset({"127.0.0.1", "api.twilio.com", *extra}),
        "trusted_hosts": frozenset({"127.0.0.1"}),
        "auth": (ACCOUNT_SID, AUTH_TOKEN),
        "max_bytes": 1024,
        "timeout_s": 5.0,
        "ca_file": str(standin.ca_file),
    }


def touched(connections: list[Any], address: str) -> list[Any]:
    return [c for c in connections if address in str(c[1])]


def test_the_metadata_address_is_refused_without_a_connection(standin: TwilioStandIn, connections: list[Any]) -> None:
    with pytest.raises(FetchRefused):
        fetch("https://169.254.169.254/latest/meta-data/iam", **allowed(standin))
    with pytest.raises(FetchRefused):  # even when someone lists it as a provider host
        fetch("https://169.254.169.254/latest/meta-data/iam", **allowed(standin, "169.254.169.254"))
    assert touched(connections, "169.254.169.254") == [("socket.getaddrinfo", "169.254.169.254")]
    assert not [c for c in connections if c[0] == "socket.connect"]


def test_a_redirect_into_the_private_network_is_refused_without_a_connection(
    standin: TwilioStandIn, connections: list[Any]
) -> None:
    url = standin.add_media(sid("MM"), sid("ME"), PNG, "image/png")
    standin.redirects[url.removeprefix(standin.base_url)] = "https://10.0.0.1/internal/secrets"
    with pytest.raises(FetchRefused) as first:
        fetch(url, **allowed(standin))
    with pytest.raises(FetchRefused) as second:
        fetch(url, **allowed(standin, "10.0.0.1"))
    assert "not one of the provider's" in first.value.reason
    assert "private" in second.value.reason
    connects = [c for c in connections if c[0] == "socket.connect"]
    assert connects and all(c[1][0] == "127.0.0.1" for c in connects)
    assert not [c for c in connects if "10.0.0.1" in str(c)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x", "only https"),
        ("https://evil.example.net/x", "not one of the provider's"),
        ("ftp://api.twilio.com/x", "only https"),
    ],
)
def test_only_https_to_provider_hosts(standin: TwilioStandIn, connections: list[Any], url: str, reason: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        fetch(url, **allowed(standin))
    assert reason in caught.value.reason
    assert not [c for c in connections if c[0] == "socket.connect"]


def test_a_host_that_resolves_to_loopback_is_refused_unless_it_is_the_configured_api_host(
    standin: TwilioStandIn, connections: list[Any]
) -> None:
    url = standin.add_media(sid("MM"), sid("ME"), PNG, "image/png").replace("127.0.0.1", "localhost")
    with pytest.raises(FetchRefused):
        fetch(url, **allowed(standin, "localhost"))
    assert not [c for c in connections if c[0] == "socket.connect"]


def test_an_allowed_fetch_returns_the_bytes_and_a_size_cap_holds(standin: TwilioStandIn) -> None:
    url = standin.add_media(sid("MM"), sid("ME"), PNG, "image/png")
    assert fetch(url, **allowed(standin)).data == PNG
    big = standin.add_media(sid("MM"), sid("ME"), PNG * 10, "image/png")
    with pytest.raises(FetchRefused) as caught:
        fetch(big, **allowed(standin))
    assert "larger than" in caught.value.reason


async def test_a_picture_message_is_stored_deleted_at_twilio_and_a_refused_url_is_listed_not_fetched(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    message_sid = sid("MM")
    good = standin.add_media(message_sid, sid("ME"), PNG, "image/jpeg")  # the declared type is a claim
    params = sms("Esta es la parada", MessageSid=message_sid, NumMedia="2", MediaUrl0=good,
                 MediaContentType0="image/jpeg", MediaUrl1="https://169.254.169.254/latest/meta-data",
                 MediaContentType1="image/png")  # fmt: skip
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        status, _ = await gw.post("/hooks/twilio/sms", params)
    assert status == 200
    assert standin.requests == []  # nothing is fetched on the request path
    work(config)
    shown = intake(config, "tickets", "show", "1").stdout
    assert f"{message_sid}-0.png (image/png, {len(PNG)} bytes)" in shown
    assert "not fetched: the host is not one of the provider's" in shown
    assert standin.deleted() == [good.removeprefix(standin.base_url) + ".json"]
    assert list((tmp_path / "data" / "blobs").rglob("*"))


async def test_a_media_fetch_that_answers_5xx_then_hangs_is_retried_and_the_picture_reaches_the_ticket_once(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    """End to end: Twilio's media host answers 503, then holds the next fetch past the timeout; the worker's
    retries get the picture on the third try, onto the one ticket, once, and delete it at Twilio."""
    message_sid = sid("MM")
    url = standin.add_media(message_sid, sid("ME"), PNG, "image/png")
    standin.media_failures = [Failure(503), Failure(200, delay_s=4)]
    params = sms("Foto del autobus", MessageSid=message_sid, NumMedia="1", MediaUrl0=url,
                 MediaContentType0="image/png")  # fmt: skip
    config = twilio_config(tmp_path, redis_server, standin, media_timeout_s=1)
    async with sms_gateway(config) as gw:
        status, _ = await gw.post("/hooks/twilio/sms", params)
    assert status == 200
    work(config)
    gets = [r for r in standin.requests if r.method == "GET" and r.path.startswith(url.removeprefix(standin.base_url))]
    assert len(gets) == 3
    assert standin.media_failures == []
    assert len(tickets(config)) == 1
    shown = intake(config, "tickets", "show", "1").stdout
    assert shown.count(f"{message_sid}-0.png (image/png, {len(PNG)} bytes)") == 1
    assert standin.deleted() == [url.removeprefix(standin.base_url) + ".json"]
