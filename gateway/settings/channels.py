"""The `channels:` section: one entry per channel."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.email import EmailSettings
from gateway.settings.plugins import WithPluginSections
from gateway.settings.slack import SlackSettings
from gateway.settings.twilio import TwilioSettings
from gateway.settings.webform import WebformSettings


class ChannelSettings(WithPluginSections):
    """The channels this release configures by name; a plug-in channel's section is checked by its registry."""

    webform: WebformSettings = Field(default_factory=lambda: WebformSettings())
    email: EmailSettings = Field(default_factory=lambda: EmailSettings())
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings())
    twilio: TwilioSettings = Field(default_factory=lambda: TwilioSettings())
