"""The aiohttp side of Twilio's webhooks: explicit paths (DESIGN.md section 10), the same converter as every hook.

Only routing lives here; verifying and meaning live in channels.twilio*, which see InboundRequest only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from channels.twilio_status import DeliveryStatusHook
from channels.twilio_voice import TwilioVoiceChannel
from gateway.server import appkeys as K
from gateway.server.http import AckResponse, Handler, InboundRequest, to_inbound, to_response


def _provider_hook(handle: Callable[[InboundRequest], Awaitable[AckResponse] | AckResponse]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        server = request.app[K.SETTINGS].server
        req = await to_inbound(request, server.max_body_bytes, server.public_base_url)
        ack = handle(req)
        return to_response(ack if isinstance(ack, AckResponse) else await ack)

    return handler


def add_twilio_routes(app: web.Application, *, sms: Handler, voice_recording: Handler) -> None:
    """/hooks/twilio/{sms,status,voice,voice/recording}. Texts and recordings go through the pipeline."""
    settings = app[K.SETTINGS]
    status = DeliveryStatusHook(settings, app[K.REDIS])
    voice = TwilioVoiceChannel(settings, app[K.BLOBS])
    app.router.add_post("/hooks/twilio/sms", sms)
    app.router.add_post("/hooks/twilio/status", _provider_hook(status.handle))
    app.router.add_post("/hooks/twilio/voice", _provider_hook(voice.greet))
    app.router.add_post("/hooks/twilio/voice/recording", voice_recording)
