"""The channel registry: every provider module, listed explicitly (no directory scanning).

Adding a channel is one module and one line here. The web app's routes, the enabled list and the
reply sender all loop over this dict; nothing else in the gateway names a channel.
"""

from __future__ import annotations

from channels.base import Channel, ChannelClass
from channels.email.channel import EmailChannel
from channels.meta.channel import InstagramChannel, MessengerChannel, MetaWebhook, WhatsAppChannel
from channels.slack.channel import SlackChannel
from channels.twilio.sms import TwilioSmsChannel
from channels.twilio.voice import TwilioVoiceChannel
from channels.webform import WebformChannel
from channels.x.channel import XChannel
from gateway.settings import Settings
from gateway.settings.plugins import section_problems as section_problems_of
from gateway.settings.plugins import unknown_section
from gateway.store.blobs import BlobStore

CHANNELS: dict[str, ChannelClass] = {
    "webform": WebformChannel,
    "email": EmailChannel,
    "slack": SlackChannel,
    "sms": TwilioSmsChannel,
    "voice": TwilioVoiceChannel,
    "meta": MetaWebhook,
    "messenger": MessengerChannel,
    "instagram": InstagramChannel,
    "whatsapp": WhatsAppChannel,
    "x": XChannel,
}


def enabled_channels(settings: Settings, blobs: BlobStore) -> dict[str, Channel]:
    """The channels the settings switch on, built once per process."""
    return {name: cls(settings, blobs) for name, cls in CHANNELS.items() if cls.enabled(settings)}


def reply_targets(conversation: dict[str, str]) -> list[tuple[str, str]]:
    """(channel, recipient) for each reply an event on this conversation sends, as its channel decides.

    A conversation from a channel this release does not know is answered on that channel: the reply
    waits on its outbound queue until a sender for it runs.
    """
    name = conversation.get("channel", "webform")
    cls = CHANNELS.get(name)
    if cls is None:
        return [(name, conversation.get("sender", ""))]
    return cls.reply_targets(conversation)


def section_problems(settings: Settings) -> list[str]:
    """Every `channels.<name>` section a plug-in brings, checked against that channel's own settings model."""
    problems: list[str] = []
    for name, raw in settings.channels.plugin_sections().items():
        cls = CHANNELS.get(name)
        if cls is None:
            problems.append(unknown_section(settings.source_file, "channels", name, sorted(CHANNELS)))
        else:
            problems += section_problems_of(settings.source_file, "channels", name, cls.settings_model, raw)
    return problems
