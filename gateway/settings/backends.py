"""The `backends:` section: the default ticket system and each one's settings."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import Strict


class BuiltinBackendSettings(Strict):
    path: str = ""  # empty: <data_dir>/tickets.sqlite3
    busy_timeout_ms: int = Field(5000, ge=0)


class BackendSettings(Strict):
    default: str = "builtin"
    builtin: BuiltinBackendSettings = Field(default_factory=lambda: BuiltinBackendSettings())
