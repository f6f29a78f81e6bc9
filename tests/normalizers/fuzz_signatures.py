"""Property tests of every signature header we check: whatever bytes a caller puts in the header (aiohttp keeps bytes
that are not UTF-8 as lone surrogates), the check passes or refuses with a documented 401 or 403, never a 500."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from channels.meta.verify import check_signature as meta_check
from channels.slack.verify import Workspace
from channels.slack.verify import verify as slack_verify
from channels.x.verify import check_signature as x_check
from gateway import signatures
from gateway.errors import IntakeError
from gateway.server.http import InboundRequest
from tests.normalizers.fuzz_twilio import VERIFIER as TWILIO
from tests.normalizers.fuzzing import FUZZ
from workers.backends import webhook_contract
from workers.backends.freshdesk import events as freshdesk
from workers.backends.zammad import events as zammad
from workers.backends.zendesk import events as zendesk

SECRET = b"fuzz-secret"
BODY = b'{"type": "event_callback"}'
NOW = str(int(time.time()))
SLACK = [Workspace("T0DISTRICT", SECRET, "xoxb-fuzz", "U0BOT")]
# What a caller may send: any bytes, as aiohttp hands them over, and near misses of each scheme's shape.
RAW = st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape"))
NEAR = st.sampled_from([f"t={NOW},v1=", "t=²,v1=ab", f"t={'9' * 5000},v1=ab", "v0=", "sha256=", "sha1=", "t=,v1=,",
                        NOW, "²", "2026-12-06T20:00:00Z", "2026-12-06T20:00:00", "\udcff",
                        "v0=\udcff\udcfe"])  # fmt: skip
VALUES = st.one_of(RAW, NEAR, st.tuples(NEAR, RAW).map("".join))

CHECKS: dict[str, Callable[[InboundRequest], object]] = {
    "slack": lambda r: slack_verify(SLACK, r.header("x-slack-request-timestamp") or NOW, r.header("h"), r.raw_body),
    "slack timestamp": lambda r: slack_verify(SLACK, r.header("h"), "v0=00", r.raw_body),
    "meta": lambda r: meta_check(SECRET, r.raw_body, r.header("h")),
    "x": lambda r: x_check(SECRET, r.raw_body, r.header("h")),
    "webform": lambda r: signatures.parse(r.header("h") or ""),
    "twilio": lambda r: TWILIO.verified_params(r),
    "webhook backend": lambda r: webhook_contract.verify(SECRET, r.header("h"), r.raw_body),
    "zammad": lambda r: zammad.verify(SECRET, r.header("h"), r.raw_body),
    "freshdesk": lambda r: freshdesk.verify("h", SECRET, r.header("h")),
    "zendesk": lambda r: zendesk.verify(SECRET, r.header("h"), r.header("h"), r.raw_body, 300),
    "zendesk timestamp": lambda r: zendesk.verify(SECRET, "x", r.header("h"), r.raw_body, 300),
}


@pytest.mark.parametrize("check", sorted(CHECKS))
@FUZZ
@given(value=VALUES)
@example(value="v0=\udcff\udcfe")  # bytes that are not UTF-8: str.encode() raised UnicodeEncodeError
@example(value="t=²,v1=ab")  # isdigit() is true for '²', which int() refuses
def test_any_signature_header_passes_or_is_refused_401_or_403(check: str, value: str) -> None:
    headers = {"h": value, "x-twilio-signature": value, "content-type": "application/x-www-form-urlencoded"}
    req = InboundRequest("POST", "/hooks/x", "https://gw.example.org/hooks/x", headers, {}, BODY)
    try:
        CHECKS[check](req)
    except IntakeError as exc:
        assert exc.status in (401, 403), exc
