"""Slack request signatures: checked on the raw bytes before anything is parsed; nothing stored when bad."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier

from channels.slack.verify import Workspace, owner, signature, verify
from gateway.errors import Unauthorized
from tests.channels.slack_support import SlackGateway, event, payload, queued_deliveries, stored_requests
from tests.conftest import start_gateway
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackAPI, signed_headers, slack_config

# The worked example on Slack's "Verifying requests from Slack" page.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slacks_published_example_verifies_with_our_code_and_the_sdks() -> None:
    ws = Workspace("T1DC2JH3J", DOC_SECRET.encode(), "xoxb-x", "")
    assert signature(DOC_SECRET.encode(), DOC_TIMESTAMP, DOC_BODY.encode()) == DOC_SIGNATURE
    assert verify([ws], DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY.encode(), now=int(DOC_TIMESTAMP) + 10) == [ws]
    sdk = SignatureVerifier(DOC_SECRET, clock=_Clock(int(DOC_TIMESTAMP)))
    assert sdk.is_valid(DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE)
    with pytest.raises(Unauthorized, match="five minutes"):
        verify([ws], DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY.encode())  # today, that example is a replay


class _Clock:
    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> float:
        return float(self._now)


def test_every_secret_is_tried_and_the_team_must_belong_to_one_that_matched() -> None:
    a = Workspace("T0AAA", b"secret-a", "xoxb-a", "")
    b = Workspace("T0BBB", b"secret-b", "xoxb-b", "")
    ts = str(int(time.time()))
    matched = verify([a, b], ts, signature(b"secret-b", ts, b"{}"), b"{}")
    assert matched == [b]
    assert owner(matched, "T0BBB") == b
    assert owner(matched, "T0AAA") is None  # signed by B's app, claiming to be A's team
    grid = Workspace("E0GRID", b"secret-g", "xoxb-g", "")
    assert owner([grid], "T0ANYTEAM", enterprise="E0GRID") == grid  # an org-wide install, filed by enterprise id
    anyteam = Workspace("", b"secret-a", "xoxb-a", "")
    assert owner([anyteam], "T0WHATEVER") == anyteam  # not pinned: whichever team this app's secret signs for


BODY = json.dumps(event()).encode()


def _stamped(offset: int) -> dict[str, str]:
    return signed_headers(BODY, timestamp=int(time.time()) + offset)


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("bad signature", lambda: {"X-Slack-Signature": "v0=" + "0" * 64}),
        ("signed with another secret", lambda: signed_headers(BODY, secret="not-our-secret")),
        ("stale timestamp", lambda: _stamped(-301)),
        ("future timestamp", lambda: _stamped(+301)),
        ("non-numeric timestamp", lambda: {"X-Slack-Request-Timestamp": "yesterday"}),
        ("huge timestamp", lambda: {"X-Slack-Request-Timestamp": "9" * 40}),
        ("missing signature", lambda: {"X-Slack-Signature": ""}),
        ("missing timestamp", lambda: {"X-Slack-Request-Timestamp": ""}),
        ("no slack headers at all", None),
    ],
)
async def test_bad_signatures_are_401_and_nothing_is_stored(
    slack_gateway: SlackGateway, redis_server: RedisServer, case: str, headers: Callable[[], dict[str, str]] | None
) -> None:
    if headers is None:
        status, _ = await slack_gateway.post("/hooks/slack/events", BODY, sign=False)
    else:
        good = signed_headers(BODY)
        good.update(headers())
        status, _ = await slack_gateway.post("/hooks/slack/events", BODY, sign=False, headers=good)
    assert status == 401, case
    assert stored_requests(redis_server) == []
    assert queued_deliveries(redis_server) == 0


async def test_a_body_changed_after_signing_is_refused(slack_gateway: SlackGateway, redis_server: RedisServer) -> None:
    headers = signed_headers(BODY)
    tampered = BODY.replace(b"projector", b"PROJECTOR")
    status, _ = await slack_gateway.post("/hooks/slack/events", tampered, sign=False, headers=headers)
    assert status == 401
    assert stored_requests(redis_server) == []


async def test_an_unknown_team_is_401_with_a_clear_log_line_and_nothing_stored(
    slack_gateway: SlackGateway, redis_server: RedisServer, captured_logs: io.StringIO
) -> None:
    body = event(team_id="T0STRANGER")
    body["team_id"] = "T0STRANGER"
    status, _ = await slack_gateway.event(body)
    assert status == 401
    assert stored_requests(redis_server) == []
    lines = [json.loads(x) for x in captured_logs.getvalue().splitlines()]
    [line] = [x for x in lines if x["msg"] == "slack request from a workspace that is not configured"]
    assert line["team"] == "T0STRANGER"
    assert line["level"] == "warning"


async def test_url_verification_is_answered_only_when_signed(slack_gateway: SlackGateway) -> None:
    body = json.dumps(payload("url_verification.json")).encode()
    status, text = await slack_gateway.post("/hooks/slack/events", body)
    assert status == 200
    assert json.loads(text) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    status, text = await slack_gateway.post("/hooks/slack/events", body, sign=False)
    assert status == 401
    assert "3eZbrw1a" not in text


async def test_several_workspaces_each_with_its_own_secret(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    conf = slack_config(slack_api)
    conf["workspaces"] = {"T0OTHERDST": {"signing_secret": "other-district-secret", "bot_token": "xoxb-other-1"}}
    path = write_config(tmp_path, redis_server.url, channels={"slack": conf})
    server, http = await start_gateway(settings_from(path))
    gw = SlackGateway(server, http, settings_from(path))
    try:
        ours = event()
        other = event()
        other["team_id"] = "T0OTHERDST"
        assert (await gw.event(ours))[0] == 200
        assert (await gw.event(other, secret="other-district-secret"))[0] == 200
        crossed = event()
        crossed["team_id"] = "T0OTHERDST"
        assert (await gw.event(crossed, secret=SIGNING_SECRET))[0] == 401  # our secret, their team
        assert sorted(r["channel"] for r in stored_requests(redis_server)) == ["slack", "slack"]
    finally:
        await http.close()
        await server.close()
    assert BOT_TOKEN  # the env workspace still has its own token (used by the replies tests)


async def test_slacks_ssl_check_of_the_command_url_is_answered_when_signed(slack_gateway: SlackGateway) -> None:
    status, _ = await slack_gateway.command({"ssl_check": "1", "token": "gIkuvaNzQIHg97ATvDxqgjtO"})
    assert status == 200
    assert (await slack_gateway.command({"ssl_check": "1"}, secret="not-ours"))[0] == 401
