"""The `backends:` section: the default ticket system and each one's settings."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import Strict
from gateway.settings.plugins import WithPluginSections


class BuiltinBackendSettings(Strict):
    path: str = ""  # empty: <data_dir>/tickets.sqlite3
    busy_timeout_ms: int = Field(5000, ge=0)


class BackendSettings(WithPluginSections):
    """`default` names where requests go unless a rule says otherwise; each other key is one backend's section."""

    default: str = "builtin"
    builtin: BuiltinBackendSettings = Field(default_factory=lambda: BuiltinBackendSettings())

    def configured(self) -> set[str]:
        """The backends a rule may name: the built-in store, the default, and every section in the file."""
        return {"builtin", self.default, *self.plugin_sections()}
