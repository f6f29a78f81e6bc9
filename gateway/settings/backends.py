"""The `backends:` section: the default ticket system, each one's settings, and how outages are ridden out."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.settings.base import Strict
from gateway.settings.plugins import WithPluginSections


class BuiltinBackendSettings(Strict):
    path: str = ""  # empty: <data_dir>/tickets.sqlite3
    busy_timeout_ms: int = Field(5000, ge=0)
    # SQLite: a search whose words are in more tickets than this is listed without a total (the page says "more
    # than", its last page the total, the CSV holds every one), since counting them costs every page 0.5-1 s at a
    # million tickets. Raise it for exact totals on a small store; 0 never counts a search of many tickets.
    search_counted_up_to: int = Field(10_000, ge=0)
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


class OutageSettings(Strict):
    """How deliveries wait for a ticket system that is down, slowing us down, or refusing our credentials.

    While a system is out, its requests are held (not spent against `jobs.retry_intervals`) and one job at
    a time probes it, first after `hold_initial_s`, then twice as long each time, up to `hold_max_s`.
    """

    hold_initial_s: int = Field(5, ge=1)
    hold_max_s: int = Field(300, ge=1)
    # A 429 without Retry-After (Zendesk's per-user limit sends none): wait this long, doubling up to hold_max_s.
    rate_limit_wait_s: int = Field(30, ge=1)
    # A system that refused our credentials is tried again this often, so a fixed token is noticed by itself.
    auth_recheck_s: int = Field(300, ge=1)


class BackendSettings(WithPluginSections):
    """`default` names where requests go unless a rule says otherwise; each other key is one backend's section."""

    default: str = "builtin"
    builtin: BuiltinBackendSettings = Field(default_factory=lambda: BuiltinBackendSettings())
    outages: OutageSettings = Field(default_factory=lambda: OutageSettings())
