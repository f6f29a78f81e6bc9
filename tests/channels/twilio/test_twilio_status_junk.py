"""A signed status callback whose ErrorCode is not a number is taken (200) without a code, never a 500 that Twilio
would retry: '²' passed str.isdigit() and then crashed int() in the status hook."""

from __future__ import annotations

from pathlib import Path

from gateway import keys
from tests.channels.twilio_support import ACCOUNT_SID, MAIN, PARENT, sid, sms_gateway, twilio_config
from tests.support.redis_server import RedisServer


async def test_a_failure_callback_with_an_error_code_that_is_not_a_number_is_taken_without_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        for code in ("²", "9" * 5000, "30006x"):
            message = sid()
            callback = {"MessageSid": message, "MessageStatus": "failed", "ErrorCode": code,
                        "AccountSid": ACCOUNT_SID, "From": MAIN, "To": PARENT}  # fmt: skip
            assert (await gw.post("/hooks/twilio/status", callback))[0] == 200, code
            assert redis_server.client().hget(keys.sms_message(message), "status") == b"failed"
