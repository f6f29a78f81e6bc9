"""Twilio voicemail: a short greeting in the number's language (press 2 for Spanish), a recording, a request.

`POST /hooks/twilio/voice` answers the call with TwiML: a <Gather> offering Spanish, then <Record>.
Its `action` (`POST /hooks/twilio/voice/recording`) carries the caller, the number and the recording,
and becomes a request from that phone number, threaded like a text; the audio is fetched by a worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from twilio.twiml.voice_response import VoiceResponse

from channels.base import HookContext, HookRoute, Received
from channels.twilio.base import TwilioChannel
from gateway.errors import BadRequest
from gateway.ids import new_id
from gateway.models import Attachment, InboundMessage, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from normalizers.twilio_sms import InvalidPayload, is_phone, recording_fields

RECORDING_PATH = "/hooks/twilio/voice/recording"
VOICE_PATH = "/hooks/twilio/voice"
SPANISH_DIGIT = "2"

# What the caller hears: short, and in plain words. Twilio's <Say> reads it with the language's voice.
GREETINGS = {
    "en": "You have reached the district help desk. Please leave a message after the tone with your name, "
    "your child's school and how we can help. We will text you back.",
    "es": "Se ha comunicado con la mesa de ayuda del distrito. Deje un mensaje después del tono con su nombre, "
    "la escuela de su hijo y cómo podemos ayudarle. Le responderemos por mensaje de texto.",
}
SPANISH_OFFER = "Para español, oprima dos."
THANKS = {"en": "Thank you. Goodbye.", "es": "Gracias. Adiós."}
SAY_LANGUAGE = {"en": "en-US", "es": "es-MX"}


def _lang(code: str) -> str:
    return code if code in GREETINGS else "en"


class TwilioVoiceChannel(TwilioChannel):
    name = "voice"
    max_text_len = 1600
    rate_per_sec = 1.0

    def routes(self) -> Sequence[HookRoute]:
        # /hooks/voice: the recording callback's path in releases before the channels declared their own routes.
        return [HookRoute("POST", VOICE_PATH, self.greet), HookRoute("POST", RECORDING_PATH),
                HookRoute("POST", "/hooks/voice")]  # fmt: skip

    def _number(self, to: str) -> str:
        return self.conf.number_for(to) or next(iter(self.conf.numbers))

    async def greet(self, req: InboundRequest, hook: HookContext) -> AckResponse:
        """The TwiML that answers a call (and the Spanish choice, when the caller pressed 2)."""
        params = self.verifier.verified_params(req)
        number = self.conf.numbers[self._number(params.get("To", ""))]
        chose = params.get("Digits") == SPANISH_DIGIT
        lang = "es" if chose else _lang(number.language)
        base = req.public_url.split(req.path, 1)[0]
        vr = VoiceResponse()
        if not chose and params.get("Digits") is None and lang != "es":
            gather = vr.gather(num_digits=1, timeout=3, action=base + VOICE_PATH, method="POST")
            gather.say(SPANISH_OFFER, language=SAY_LANGUAGE["es"])
        vr.say(GREETINGS[lang], language=SAY_LANGUAGE[lang])
        recording_url = f"{base}{RECORDING_PATH}?lang={lang}"
        extra = {"transcribe": True, "transcribe_callback": recording_url} if self.conf.voice_transcription else {}
        vr.record(
            action=recording_url,
            method="POST",
            max_length=self.conf.voice_max_length_s,
            play_beep=True,
            **extra,
        )
        return AckResponse(status=200, body=str(vr).encode(), content_type="text/xml")

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        params = self.verifier.verified_params(req)
        try:
            f = recording_fields(params)
        except InvalidPayload as exc:
            raise BadRequest(
                "the recording callback is missing fields Twilio always sends", fields=exc.fields
            ) from None
        name = self._number(f.to)
        number = self.conf.numbers[name]
        query = dict(p.split("=", 1) for p in urlsplit(req.public_url).query.split("&") if "=" in p)
        lang = _lang(query.get("lang", number.language))
        # Twilio's transcription arrives later, on its own callback: a follow-up on the voicemail's request.
        transcription_sid = params.get("TranscriptionSid", "")
        if transcription_sid:
            text = f"Transcription of the voicemail: {f.transcription or '(empty)'}"
        else:
            text = f.transcription or f"Voicemail ({f.duration_s} seconds): listen to the attached recording."
        known_caller = is_phone(f.sender)
        message = InboundMessage(
            id=new_id(),
            channel="voice",
            account=name,
            provider_id=transcription_sid or f.recording_sid,
            sender=f.sender if known_caller else "anonymous",
            requester=Requester(phone=f.sender if known_caller else None, locale=lang, campus=number.school),
            subject="Voicemail",
            text=text,
            full_text=text,
            language=lang,
            # The caller picked the language at the greeting; our own placeholder text says nothing about it.
            language_source="chosen" if "lang" in query else "channel",
            category=number.department,
            campus=number.school,
            attachments=()
            if transcription_sid
            else (
                Attachment(
                    filename=f"voicemail-{f.recording_sid}.wav",
                    content_type="audio/wav",
                    size=0,
                    sha256="",
                    kept=False,
                    reason="being fetched",
                    source_url=f.recording_url,
                ),
            ),
            # An anonymous caller can't be told apart from another: never thread two of them together.
            thread_hints=ThreadHints(force_new=not known_caller, sender_continuity=True),
        )
        vr = VoiceResponse()
        vr.say(THANKS[lang], language=SAY_LANGUAGE[lang])
        vr.hangup()
        return Received([message], AckResponse(status=200, body=str(vr).encode(), content_type="text/xml"))
