"""The `channels:` section: one entry per channel."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import Strict
from gateway.settings.email import EmailSettings
from gateway.settings.slack import SlackSettings
from gateway.settings.twilio import TwilioSettings
from gateway.settings.webform import WebformSettings


class ChannelSettings(Strict):
    webform: WebformSettings = Field(default_factory=lambda: WebformSettings())
    email: EmailSettings = Field(default_factory=lambda: EmailSettings())
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings())
    twilio: TwilioSettings = Field(default_factory=lambda: TwilioSettings())
