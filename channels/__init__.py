"""The channel registry: every provider module, listed explicitly (no directory scanning)."""

from __future__ import annotations

from collections.abc import Callable

from channels.base import Channel
from channels.slack import SlackChannel
from channels.twilio import TwilioSmsChannel
from channels.twilio_voice import TwilioVoiceChannel
from channels.webform import WebformChannel
from gateway.settings import Settings
from gateway.store.blobs import BlobStore

ChannelFactory = Callable[[Settings, BlobStore], Channel]

CHANNELS: dict[str, ChannelFactory] = {
    "webform": WebformChannel,
    "slack": SlackChannel,
    "sms": TwilioSmsChannel,
    "voice": TwilioVoiceChannel,
}


def enabled_channels(settings: Settings, blobs: BlobStore) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    if settings.channels.webform.enabled:
        out["webform"] = CHANNELS["webform"](settings, blobs)
    if settings.channels.slack.enabled:
        out["slack"] = CHANNELS["slack"](settings, blobs)
    if settings.channels.twilio.enabled:
        out["sms"] = CHANNELS["sms"](settings, blobs)
        out["voice"] = CHANNELS["voice"](settings, blobs)
    return out
