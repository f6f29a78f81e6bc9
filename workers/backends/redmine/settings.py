"""The `backends.redmine` section: where Redmine is, the account the gateway works as, and what maps to what.

Trackers, statuses, priorities and custom fields are named as Redmine shows them (or by their numeric ids);
the backend looks the names up once and `intake check-config` names any it cannot find.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from gateway.models import TicketStatus
from gateway.settings.base import Strict
from workers.backends.mapping import FieldMap


def _default_map() -> FieldMap:
    return FieldMap(priority={"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"})


def _default_statuses() -> dict[TicketStatus, str | int]:
    return {
        TicketStatus.NEW: "New",
        TicketStatus.OPEN: "New",
        TicketStatus.IN_PROGRESS: "In Progress",
        TicketStatus.WAITING: "Feedback",
        TicketStatus.RESOLVED: "Resolved",
        TicketStatus.CLOSED: "Closed",
    }


class RedmineSettings(Strict):
    """On when the URL, the API key and the project are all set (REDMINE_URL, REDMINE_API_KEY, REDMINE_PROJECT)."""

    url: str = ""
    api_key: SecretStr = SecretStr("")
    # The project (its identifier) a request goes to unless map.queue names another for its queue.
    project: str = ""
    # The tracker a new issue gets unless map.category names another for the request's category.
    tracker: str | int = "Support"
    # The issue custom field that holds our request id: how a retry finds the issue it already made.
    request_id_field: str | int = "Intake request"
    # The custom field that names who asked (name, email, phone); empty: the description only.
    requester_field: str | int = "Requester"
    # Our statuses -> Redmine's (names or ids), for status changes we make; read backwards when polling.
    statuses: dict[TicketStatus, str | int] = Field(default_factory=_default_statuses)
    # queue -> project identifier, category -> tracker, priority -> priority, custom_fields -> field names or ids.
    map: FieldMap = Field(default_factory=_default_map)
    # Calls a minute to Redmine from all workers together (a token bucket in Redis).
    requests_per_minute: float = Field(600, gt=0)
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str = ""
    # How far back each poll looks again before the newest change it saw, for changes still being saved.
    poll_overlap_s: int = Field(60, ge=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected the Redmine URL, starting with https:// (or http://)")
        return v.rstrip("/")

    @field_validator("statuses")
    @classmethod
    def _every_status(cls, v: dict[TicketStatus, str | int]) -> dict[TicketStatus, str | int]:
        return {**_default_statuses(), **v}  # a district names only the statuses it calls differently

    def enabled(self) -> bool:
        return bool(self.url and self.api_key.get_secret_value() and self.project)
