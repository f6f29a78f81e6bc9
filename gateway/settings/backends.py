"""The `backends:` section: the default ticket system and each one's settings."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.settings.base import Strict
from gateway.settings.plugins import WithPluginSections


class BuiltinBackendSettings(Strict):
    path: str = ""  # empty: <data_dir>/tickets.sqlite3
    busy_timeout_ms: int = Field(5000, ge=0)
    # Empty: SQLite at `path`. postgresql://user:password@host:5432/db (DATABASE_URL) puts the store there.
    database_url: SecretStr = SecretStr("")

    @field_validator("database_url")
    @classmethod
    def _usable_url(cls, v: SecretStr) -> SecretStr:
        url = v.get_secret_value().strip()
        if url and not url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://", "sqlite:///")):
            raise ValueError(
                "expected postgresql://user:password@host:5432/database (or sqlite:///PATH); "
                "leave it empty for SQLite at backends.builtin.path"
            )
        return SecretStr(url)


class BackendSettings(WithPluginSections):
    """`default` names where requests go unless a rule says otherwise; each other key is one backend's section."""

    default: str = "builtin"
    builtin: BuiltinBackendSettings = Field(default_factory=lambda: BuiltinBackendSettings())

    def configured(self) -> set[str]:
        """The backends a rule may name: the built-in store, the default, and every section in the file."""
        return {"builtin", self.default, *self.plugin_sections()}
