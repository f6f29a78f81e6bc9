"""The `backends.zendesk` section: the account's address, the agent and API token the gateway works as, the
webhook's signing secret, and what maps to what."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.models import TicketStatus
from gateway.settings.base import Strict
from workers.backends.mapping import FieldMap


def _default_map() -> FieldMap:
    return FieldMap(priority={"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"})


def _default_statuses() -> dict[str, TicketStatus]:
    return {
        "new": TicketStatus.NEW,
        "open": TicketStatus.OPEN,
        "pending": TicketStatus.WAITING,
        "hold": TicketStatus.IN_PROGRESS,
        "solved": TicketStatus.RESOLVED,
        "closed": TicketStatus.CLOSED,
    }


class ZendeskSettings(Strict):
    """On when the URL, the agent's email and an API token are all set (ZENDESK_URL, ZENDESK_EMAIL, ZENDESK_TOKEN)."""

    url: str = ""
    email: str = ""
    token: SecretStr = SecretStr("")
    # The group (by name) a ticket goes to unless map.queue names another; empty: Zendesk's own routing.
    group: str = ""
    # The webhook's signing secret (Admin Center » Webhooks » the webhook » Signing secret): checks every event.
    webhook_secret: SecretStr = SecretStr("")
    # An event whose signature timestamp is further than this from our clock is refused as stale (a replay).
    max_skew_s: int = Field(300, ge=1)
    # Zendesk's statuses -> ours, for what its webhook reports.
    statuses: dict[str, TicketStatus] = Field(default_factory=_default_statuses)
    # queue -> group name, priority -> low/normal/high/urgent, custom_fields -> ticket field ids.
    map: FieldMap = Field(default_factory=_default_map)
    # Calls a minute to Zendesk from every worker together (the plan's limit: 200 on Team, 700 on Enterprise).
    per_minute: float = Field(200, gt=0)
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str = ""

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected the account's address, e.g. https://district.zendesk.com")
        return v.rstrip("/")

    @field_validator("statuses")
    @classmethod
    def _lower(cls, v: dict[str, TicketStatus]) -> dict[str, TicketStatus]:
        return {**_default_statuses(), **{name.lower(): ours for name, ours in v.items()}}

    @field_validator("map")
    @classmethod
    def _field_ids(cls, v: FieldMap) -> FieldMap:
        named = sorted(theirs for theirs in v.custom_fields.values() if not theirs.isdigit())
        if named:
            raise ValueError(f"custom_fields: give Zendesk's ticket field ids (numbers), not {', '.join(named)}")
        return v

    def enabled(self) -> bool:
        return bool(self.url and self.email and self.token.get_secret_value())
