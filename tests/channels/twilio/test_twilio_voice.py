"""Voicemail: a greeting in the number's language with a choice of Spanish, and a recording that becomes a request."""

from __future__ import annotations

import json
from pathlib import Path

from tests.channels.twilio_support import (
    ACCOUNT_SID,
    MAIN,
    PARENT,
    PUBLIC,
    SPANISH,
    sid,
    sms_gateway,
    text_in,
    texts,
    tickets,
    twilio_config,
    work,
)
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64


def call(to: str = MAIN, **extra: str) -> dict[str, str]:
    params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": sid("CA"), "CallStatus": "ringing",
              "Called": to, "Caller": PARENT, "Direction": "inbound", "From": PARENT, "To": to}  # fmt: skip
    params.update(extra)
    return params


async def test_the_greeting_offers_spanish_then_records(tmp_path: Path, redis_server: RedisServer) -> None:
    async with sms_gateway(twilio_config(tmp_path, redis_server)) as gw:
        status, english = await gw.post("/hooks/twilio/voice", call())
        _, chose_spanish = await gw.post("/hooks/twilio/voice", call(Digits="2"))
        _, spanish_number = await gw.post("/hooks/twilio/voice", call(to=SPANISH))
        refused, _ = await gw.post("/hooks/twilio/voice", call(), sign=False)
    assert status == 200 and refused == 403
    assert f'<Gather action="{PUBLIC}/hooks/twilio/voice"' in english
    assert '<Say language="es-MX">Para español, oprima dos.</Say>' in english
    assert '<Say language="en-US">You have reached the district help desk.' in english
    assert f'<Record action="{PUBLIC}/hooks/twilio/voice/recording?lang=en"' in english
    for spanish in (chose_spanish, spanish_number):
        assert "<Gather" not in spanish
        assert '<Say language="es-MX">Se ha comunicado con la mesa de ayuda del distrito.' in spanish
        assert "/hooks/twilio/voice/recording?lang=es" in spanish


async def test_a_voicemail_becomes_a_request_with_its_audio_answered_by_text_and_threaded_like_one(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    recording = sid("RE")
    url = standin.recording_url(recording, WAV)
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        status, twiml = await gw.post(
            "/hooks/twilio/voice/recording?lang=es",
            call(CallStatus="completed", RecordingSid=recording, RecordingUrl=url, RecordingDuration="14"),
        )
        assert status == 200
        assert '<Say language="es-MX">Gracias. Adiós.</Say><Hangup />' in twiml
        work(config)
        await text_in(gw, "Le dejé un mensaje de voz sobre el autobús")
    work(config)
    [ticket] = tickets(config)
    assert ticket["channel"] == "voice" and ticket["requester_phone"] == PARENT
    shown = intake(config, "tickets", "show", "1").stdout
    assert f"voicemail-{recording}.wav (audio/wav, {len(WAV)} bytes)" in shown
    assert "Le dejé un mensaje de voz" in shown  # the later text continued the voicemail's conversation
    assert standin.deleted() == [url.removeprefix(standin.base_url) + ".json"]
    [ack] = texts(standin)
    assert (ack["To"], ack["From"]) == (PARENT, MAIN)
    assert ack["Body"].startswith("Recibimos su mensaje: solicitud #1")
    r = redis_server.client()
    evidences = sorted(json.dumps(r.hget(k, "evidence").decode()) for k in r.scan_iter("ig:req:*"))  # type: ignore[union-attr]
    assert evidences == ['"new"', '"sender_continuity"']


async def test_twilios_transcription_is_added_to_the_voicemails_request(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    recording = sid("RE")
    url = standin.recording_url(recording, WAV)
    config = twilio_config(tmp_path, redis_server, standin, voice_transcription=True)
    async with sms_gateway(config) as gw:
        _, greeting = await gw.post("/hooks/twilio/voice", call())
        assert 'transcribe="true"' in greeting
        assert f'transcribeCallback="{PUBLIC}/hooks/twilio/voice/recording?lang=en"' in greeting
        done = call(CallStatus="completed", RecordingSid=recording, RecordingUrl=url, RecordingDuration="9")
        assert (await gw.post("/hooks/twilio/voice/recording?lang=en", done))[0] == 200
        work(config)
        transcribed = {**done, "TranscriptionSid": sid("TR"), "TranscriptionStatus": "completed",
                       "TranscriptionText": "The bus at Elm and 4th never came"}  # fmt: skip
        assert (await gw.post("/hooks/twilio/voice/recording?lang=en", transcribed))[0] == 200
    work(config)
    assert len(tickets(config)) == 1
    assert (
        "Transcription of the voicemail: The bus at Elm and 4th never came"
        in intake(config, "tickets", "show", "1").stdout
    )


async def test_the_same_recording_callback_three_times_at_once_is_one_voicemail(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    """Twilio retries a callback that timed out (Chatwoot #15450): a retried voicemail is one request, one text."""
    import asyncio

    recording = sid("RE")
    url = standin.recording_url(recording, WAV)
    config = twilio_config(tmp_path, redis_server, standin)
    done = call(CallStatus="completed", RecordingSid=recording, RecordingUrl=url, RecordingDuration="11")
    async with sms_gateway(config) as gw:
        answers = await asyncio.gather(*(gw.post("/hooks/twilio/voice/recording?lang=en", done) for _ in range(3)))
        assert [status for status, _ in answers] == [200, 200, 200]
        assert (await gw.post("/hooks/twilio/voice/recording?lang=en", done))[0] == 200  # a later retry too
    work(config)
    assert len(tickets(config)) == 1
    assert len(texts(standin)) == 1
    r = redis_server.client()
    assert len(list(r.scan_iter("ig:req:*"))) == 1
