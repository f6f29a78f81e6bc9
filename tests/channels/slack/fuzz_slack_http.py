"""Property test of the Slack endpoints over real HTTP, through slack-bolt: any signed payload of the three kinds Slack
sends (events, slash commands, interactivity), broken one place at a time, is answered 200 or a documented 4xx. A 500
would make Slack retry the same payload for hours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.normalizers.fuzz_slack import COMMAND, EVENTS, SHORTCUT, STATUS, SURVEY, VIEW, payloads
from tests.support.gateway import settings_from
from tests.support.slack_api import signed_headers
from tests.support.threaded import serving

DOCUMENTED = {200, 400, 401, 413}
HTTP = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def gateway_url(slack_config_path: Path) -> Iterator[str]:
    with serving(settings_from(slack_config_path)) as url:
        yield url


def _form(fields: Any) -> tuple[str, bytes]:
    if not isinstance(fields, dict):
        return "/hooks/slack/commands", b""
    return "/hooks/slack/commands", urlencode(
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    ).encode()


REQUESTS = st.one_of(
    payloads(*EVENTS).map(lambda p: ("/hooks/slack/events", json.dumps(p).encode())),
    payloads(VIEW, SHORTCUT, STATUS, SURVEY).map(
        lambda p: ("/hooks/slack/interactive", urlencode({"payload": json.dumps(p)}).encode())
    ),
    payloads(COMMAND).map(_form),
)


@HTTP
@given(request=REQUESTS)
@example(
    request=("/hooks/slack/events", json.dumps({**EVENTS[0], "event": {**EVENTS[0]["event"], "subtype": []}}).encode())
)
@example(request=("/hooks/slack/interactive", urlencode({"payload": json.dumps({**STATUS, "user": "U1"})}).encode()))
def test_any_signed_slack_payload_is_answered_200_or_a_documented_refusal(
    gateway_url: str, request: tuple[str, bytes]
) -> None:
    path, body = request
    ctype = "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
    resp = requests.post(gateway_url + path, data=body, headers=signed_headers(body, content_type=ctype), timeout=120)
    assert resp.status_code in DOCUMENTED, (resp.status_code, resp.text[:200])
