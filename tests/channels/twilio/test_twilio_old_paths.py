"""Paths of earlier releases still take Twilio's posts: before the channels declared their own routes, every
enabled channel also answered at /hooks/<name>, so /hooks/sms took texts and /hooks/voice recordings."""

from __future__ import annotations

from pathlib import Path

from tests.channels.twilio.test_twilio_voice import WAV, call
from tests.channels.twilio_support import SPANISH, sid, sms, sms_gateway, twilio_config
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


async def test_a_text_posted_to_the_sms_path_of_earlier_releases_is_committed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        assert await gw.post("/hooks/sms", sms("My son's bus did not come", To=SPANISH)) == (200, EMPTY_TWIML)
        assert (await gw.post("/hooks/sms", sms("forged", To=SPANISH), sign=False))[0] == 403
    assert len(list(redis_server.client().scan_iter("ig:req:*"))) == 1


async def test_a_recording_posted_to_the_voice_path_of_earlier_releases_is_committed(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    recording = sid("RE")
    done = call(CallStatus="completed", RecordingSid=recording, RecordingUrl=standin.recording_url(recording, WAV),
                RecordingDuration="12")  # fmt: skip
    async with sms_gateway(twilio_config(tmp_path, redis_server, standin)) as gw:
        assert (await gw.post("/hooks/voice?lang=en", done))[0] == 200
    assert len(list(redis_server.client().scan_iter("ig:req:*"))) == 1
