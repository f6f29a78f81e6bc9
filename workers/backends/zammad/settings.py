"""The `backends.zammad` section: where Zammad is, the token the gateway works with, and what maps to what."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.models import TicketStatus
from gateway.settings.base import Strict
from workers.backends.mapping import FieldMap


def _default_map() -> FieldMap:
    return FieldMap(priority={"low": "1 low", "normal": "2 normal", "high": "3 high", "urgent": "3 high"})


def _default_states() -> dict[str, TicketStatus]:
    return {
        "new": TicketStatus.NEW,
        "open": TicketStatus.OPEN,
        "pending reminder": TicketStatus.WAITING,
        "pending close": TicketStatus.RESOLVED,
        "closed": TicketStatus.RESOLVED,
        "merged": TicketStatus.CLOSED,
    }


class ZammadSettings(Strict):
    """On when the URL, the token and the group are all set (ZAMMAD_URL, ZAMMAD_TOKEN, ZAMMAD_GROUP)."""

    url: str = ""
    token: SecretStr = SecretStr("")
    # The group a ticket goes to unless map.queue names another for its queue.
    group: str = ""
    # The ticket object attribute (Admin » Objects » Ticket, type Text) that holds our request id.
    request_field: str = "intake_request"
    # The "HMAC SHA1 Signature Token" of the webhook its trigger calls: checks X-Hub-Signature on every event.
    webhook_secret: SecretStr = SecretStr("")
    # Zammad's state names -> ours, for what its webhook reports; a state not named reads as `open`.
    states: dict[str, TicketStatus] = Field(default_factory=_default_states)
    # queue -> group, priority -> priority name, custom_fields -> ticket attribute names.
    map: FieldMap = Field(default_factory=_default_map)
    # Calls a minute to Zammad from every worker together.
    per_minute: float = Field(600, gt=0)
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str = ""

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected Zammad's address, starting with https:// (or http://)")
        return v.rstrip("/")

    @field_validator("states")
    @classmethod
    def _lower(cls, v: dict[str, TicketStatus]) -> dict[str, TicketStatus]:
        return {**_default_states(), **{name.lower(): ours for name, ours in v.items()}}

    def enabled(self) -> bool:
        return bool(self.url and self.token.get_secret_value() and self.group)
