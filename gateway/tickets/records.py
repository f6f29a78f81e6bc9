"""What the built-in ticket store hands out and takes in: plain frozen records, times always aware UTC.

The desk, the dashboard, the reports and `intake tickets` read these; nothing outside `gateway/tickets/`
sees a row or a SQL type. Statuses and priorities are the gateway's own (`gateway.models`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, tzinfo
from typing import Any, Generic, Literal, TypeVar

from gateway.models import Priority, TicketStatus

# A ticket in one of these is still being worked: its response clocks run and it counts as open.
OPEN_STATUSES: tuple[str, ...] = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING)
DONE_STATUSES: tuple[str, ...] = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
# Sorting "by priority" sorts by this rank (kept on the row, so an index serves it): urgent first.
PRIORITY_RANK: dict[str, int] = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
AuthorKind = Literal["requester", "staff", "system"]
T = TypeVar("T")


def jsonable(value: Any, zone: tzinfo | None = None) -> Any:
    """A record's dict with times as ISO 8601 strings (in `zone`, the district's, when given; else UTC) and tuples
    as lists (for --json and CSV)."""
    if isinstance(value, datetime):
        return (value.astimezone(zone) if zone is not None else value).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, zone) for v in value]
    return value


def _fields(record: Any) -> dict[str, Any]:
    """A flat record's fields by name, the values themselves: `dataclasses.asdict` deep-copies every one (each time
    on a ticket), three quarters of the CSV export's time (bench/desk_queries.py)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str | None = None
    kept: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class NewTicket:
    """A ticket to make: what the worker knows from the request and its route."""

    conversation: str
    subject: str
    body: str
    channel: str
    queue: str = "general"
    language: str = "en"
    priority: str = Priority.NORMAL
    category: str | None = None
    school: str | None = None
    requester_name: str = ""
    requester_email: str | None = None
    requester_phone: str | None = None
    requester_role: str = "unknown"
    requester_directory_id: str | None = None
    assignee: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    tags: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    incident_id: str | None = None
    attachments: tuple[NewAttachment, ...] = ()


@dataclass(frozen=True)
class NewComment:
    """A message on a ticket: the requester's follow-up, a staff reply (public) or an internal note."""

    body: str
    author: str
    author_kind: AuthorKind = "requester"
    public: bool = True
    channel: str | None = None
    attachments: tuple[NewAttachment, ...] = ()


@dataclass(frozen=True)
class Ticket:
    id: int
    status: str
    subject: str
    body: str
    channel: str
    category: str | None
    queue: str
    priority: str
    school: str | None
    language: str
    requester_name: str
    requester_email: str | None
    requester_phone: str | None
    requester_role: str
    requester_directory_id: str | None
    conversation: str
    assignee: str | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    # The due time of the clock still running: first response until it is given, then resolution; None once done.
    next_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...]
    rule_ids: tuple[str, ...]
    parent_id: int | None
    merged_into: int | None
    incident_id: str | None

    def as_dict(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return dict(jsonable(_fields(self), zone))


@dataclass(frozen=True)
class Comment:
    id: int
    ticket_id: int
    author: str
    author_kind: str
    channel: str | None
    body: str
    public: bool
    created_at: datetime


@dataclass(frozen=True)
class Attachment:
    id: int
    ticket_id: int
    comment_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str | None
    kept: bool
    reason: str | None


@dataclass(frozen=True)
class StatusChange:
    id: int
    ticket_id: int
    status: str
    previous_status: str | None
    comment: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class TimeEntry:
    id: int
    ticket_id: int
    person: str
    minutes: int
    work_type: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    ticket_id: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str
    email: str | None
    role: Role
    departments: tuple[str, ...]
    password_hash: str | None = field(repr=False)
    source: str
    disabled: bool
    failed_logins: int
    last_failed_login_at: datetime | None
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TicketDetails:
    """One ticket with everything on it, each list in time order."""

    ticket: Ticket
    comments: list[Comment]
    attachments: list[Attachment]
    history: list[StatusChange]
    time_entries: list[TimeEntry]

    def as_dict(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return dict(jsonable(asdict(self), zone))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `total` is None when the list was not counted (a search for a word in too many tickets to
    count at every page: reads.py); `more` then says whether a next page holds anything."""

    items: list[T]
    total: int | None
    page: int
    per_page: int
    more: bool = False

    @property
    def pages(self) -> int:
        """How many pages in all; for a list not counted, the pages known so far (this one, and the next if any)."""
        if self.total is None:
            return self.page + 1 if self.more else self.page
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
