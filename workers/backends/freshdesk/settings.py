"""The `backends.freshdesk` section: the helpdesk's address, the API key, the webhook's secret, what maps to what."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.models import TicketStatus
from gateway.settings.base import Strict
from workers.backends.mapping import FieldMap


def _default_map() -> FieldMap:
    return FieldMap(priority={"low": 1, "normal": 2, "high": 3, "urgent": 4})


def _default_statuses() -> dict[str, TicketStatus]:
    return {
        "open": TicketStatus.OPEN,
        "pending": TicketStatus.WAITING,
        "waiting on customer": TicketStatus.WAITING,
        "waiting on third party": TicketStatus.WAITING,
        "resolved": TicketStatus.RESOLVED,
        "closed": TicketStatus.CLOSED,
    }


class FreshdeskSettings(Strict):
    """On when the helpdesk's URL and an API key are set (FRESHDESK_URL, FRESHDESK_API_KEY)."""

    url: str = ""
    api_key: SecretStr = SecretStr("")
    # The group (by name) a ticket goes to unless map.queue names another; empty: Freshdesk's own assignment.
    group: str = ""
    # The API name of the ticket field (single-line text) that holds our request id.
    request_field: str = "cf_intake_request"
    # The header the automation rule's webhook carries the secret in, and the secret (FRESHDESK_WEBHOOK_SECRET).
    webhook_header: str = Field("X-Intake-Token", pattern=r"^[A-Za-z0-9-]+$")
    webhook_secret: SecretStr = SecretStr("")
    # Freshdesk's status names -> ours, for what its webhook reports; a status not named reads as `open`.
    statuses: dict[str, TicketStatus] = Field(default_factory=_default_statuses)
    # queue -> group name, priority -> 1-4, custom_fields -> the API names of ticket fields.
    map: FieldMap = Field(default_factory=_default_map)
    # Calls every worker together may make in a window; 0: the allowance Freshdesk reports (X-RateLimit-Total).
    calls_per_window: int = Field(0, ge=0)
    # Freshdesk counts its allowance per minute; a test compresses time by shortening the window.
    window_s: float = Field(60.0, gt=0)
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str = ""

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected the helpdesk's address, e.g. https://district.freshdesk.com")
        return v.rstrip("/")

    @field_validator("statuses")
    @classmethod
    def _lower(cls, v: dict[str, TicketStatus]) -> dict[str, TicketStatus]:
        return {**_default_statuses(), **{name.lower(): ours for name, ours in v.items()}}

    def enabled(self) -> bool:
        return bool(self.url and self.api_key.get_secret_value())
