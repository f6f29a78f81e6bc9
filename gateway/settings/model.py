"""The whole configuration: every section, and what only the whole can check."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings.backends import BackendSettings
from gateway.settings.base import Strict
from gateway.settings.blobs import BlobSettings
from gateway.settings.channels import ChannelSettings
from gateway.settings.desk import DeskSettings
from gateway.settings.identity import IdentitySettings
from gateway.settings.insight import DashboardSettings, ReportSettings
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
from gateway.settings.signin import SigninSettings
from gateway.settings.surveys import SurveySettings


class Settings(Strict):
    data_dir: str = "./data"
    secret_key: SecretStr = SecretStr("")
    default_language: str = "en"
    timezone: str = "UTC"
    server: ServerSettings = Field(default_factory=lambda: ServerSettings())
    rate_limits: RateLimitSettings = Field(default_factory=lambda: RateLimitSettings())
    redis: RedisSettings = Field(default_factory=lambda: RedisSettings())
    jobs: JobSettings = Field(default_factory=lambda: JobSettings())
    channels: ChannelSettings = Field(default_factory=lambda: ChannelSettings())
    backends: BackendSettings = Field(default_factory=lambda: BackendSettings())
    routing: RoutingSettings = Field(default_factory=lambda: RoutingSettings())
    incidents: IncidentSettings = Field(default_factory=lambda: IncidentSettings())
    sync: SyncSettings = Field(default_factory=lambda: SyncSettings())
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    identity: IdentitySettings = Field(default_factory=lambda: IdentitySettings())
    retention: RetentionSettings = Field(default_factory=lambda: RetentionSettings())
    dashboard: DashboardSettings = Field(default_factory=lambda: DashboardSettings())
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())
    signin: SigninSettings = Field(default_factory=lambda: SigninSettings())
    surveys: SurveySettings = Field(default_factory=lambda: SurveySettings())
    desk: DeskSettings = Field(default_factory=lambda: DeskSettings())
    blobs: BlobSettings = Field(default_factory=lambda: BlobSettings())
    source_file: str = Field("", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as America/Chicago") from None
        return v

    @model_validator(mode="after")
    def _default_mailbox_exists(self) -> Settings:
        email = self.channels.email
        if email.default_mailbox and email.default_mailbox not in email.mailboxes:
            raise ValueError(
                f"channels.email.default_mailbox {email.default_mailbox!r} is not one of channels.email.mailboxes"
            )
        return self

    @model_validator(mode="after")
    def _directory_signin_has_a_directory(self) -> Settings:
        if self.signin.ldap.enabled and not self.identity.ldap.url:
            raise ValueError("signin.ldap.enabled needs the directory: set identity.ldap.url (INTAKE_LDAP_URL)")
        return self

    @model_validator(mode="after")
    def _database_blobs_have_a_database(self) -> Settings:
        if self.blobs.store == "postgres" and not self.backends.builtin.database_url.get_secret_value().startswith(
            ("postgres://", "postgresql")
        ):
            raise ValueError("blobs.store postgres keeps files in the built-in store's PostgreSQL: set DATABASE_URL")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def path_in_data(self, name: str) -> Path:
        return self.data_path / name

    def signing_key(self) -> bytes:
        """The key for status links. Generated once into the data dir when not configured."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured.encode()
        path = self.path_in_data("secret_key")
        if not path.exists():
            self.data_path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()
