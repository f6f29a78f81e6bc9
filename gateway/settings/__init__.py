"""Settings: `config/gateway.yaml`, validated once at start, one module per concern.

Everything is re-exported here: `from gateway.settings import Settings, load_settings` is all a caller needs.
"""

from gateway.settings.backends import BackendSettings, BuiltinBackendSettings, OutageSettings
from gateway.settings.base import Strict
from gateway.settings.blobs import BlobSettings
from gateway.settings.channels import ChannelSettings
from gateway.settings.email import EmailSettings, Mailbox, MailServer
from gateway.settings.identity import CsvColumns, CsvSource, IdentitySettings, LdapAttributes, LdapSettings
from gateway.settings.insight import DashboardSettings, ReportSettings, Term
from gateway.settings.loader import DEFAULT_CONFIG, ENV_OVERRIDES, load_settings
from gateway.settings.model import Settings
from gateway.settings.retention import RetentionSettings
from gateway.settings.service import (
    IncidentSettings,
    JobSettings,
    LoggingSettings,
    RateLimitSettings,
    RedisSettings,
    RoutingSettings,
    ServerSettings,
    SyncSettings,
)
from gateway.settings.signin import DirectorySignin, LockoutSettings, SigninSettings
from gateway.settings.slack import SlackSettings, SlackWorkspace
from gateway.settings.surveys import SurveySettings
from gateway.settings.twilio import TwilioNumber, TwilioSettings
from gateway.settings.webform import Choice, FormSource, WebformSettings

__all__ = [
    "DEFAULT_CONFIG",
    "ENV_OVERRIDES",
    "BackendSettings",
    "BlobSettings",
    "BuiltinBackendSettings",
    "ChannelSettings",
    "Choice",
    "CsvColumns",
    "CsvSource",
    "DashboardSettings",
    "DirectorySignin",
    "EmailSettings",
    "FormSource",
    "IdentitySettings",
    "IncidentSettings",
    "JobSettings",
    "LdapAttributes",
    "LdapSettings",
    "LockoutSettings",
    "LoggingSettings",
    "MailServer",
    "Mailbox",
    "OutageSettings",
    "RateLimitSettings",
    "RedisSettings",
    "ReportSettings",
    "RetentionSettings",
    "RoutingSettings",
    "ServerSettings",
    "Settings",
    "SigninSettings",
    "SlackSettings",
    "SlackWorkspace",
    "Strict",
    "SurveySettings",
    "SyncSettings",
    "Term",
    "TwilioNumber",
    "TwilioSettings",
    "WebformSettings",
    "load_settings",
]
