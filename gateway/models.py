"""The canonical model: every channel's input becomes these, every backend and reply reads them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# A channel is named by its registry entry (channels/__init__.py): a plug-in brings its own name.
ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
# The names operators may write in rules and incident criteria: the channels this release ships or plans.
KNOWN_CHANNELS = ("email", "sms", "voice", "webform", "slack", "messenger", "instagram", "whatsapp", "x")
Role = Literal["parent", "student", "staff", "community", "unknown"]
# Where a message's language came from: lingua on its text, the requester's pick on a form, the directory,
# the channel's configured language (a mailbox's), or the gateway's default.
LanguageSource = Literal["detected", "chosen", "directory", "channel", "default"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Requester(Frozen):
    display_name: str = ""
    email: str | None = None
    phone: str | None = None
    handles: dict[str, str] = Field(default_factory=dict)
    locale: str = "en"
    role: Role = "unknown"
    campus: str | None = None
    campuses: tuple[str, ...] = ()  # every school the directory knows for them (a household's children)
    directory_id: str | None = None


class Attachment(Frozen):
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str | None = None
    kept: bool = True
    reason: str | None = None  # why a file was not kept, shown on the ticket
    source_url: str | None = None  # a provider's media URL still to be fetched by a worker (MMS, voicemail)


class ThreadHints(Frozen):
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_ts: str | None = None
    conversation_id: str | None = None
    subject_token: str | None = None
    reply_token: str | None = None
    force_new: bool = False  # the sender asked for a new request (an SMS keyword such as NEW)
    # The channel threads by sender: the same sender on the same account continues their open request (SMS, DMs).
    sender_continuity: bool = False
    # Whom an email was openly addressed to besides us (To, Cc): they may answer on its thread. Empty for bulk mail.
    copied: tuple[str, ...] = ()
    # Where sender continuity looks for the sender's latest conversation; None: the account. A channel whose senders
    # share an address space with another's (a WhatsApp number is a phone number) names its own, so a family's
    # WhatsApp conversation never continues their SMS one on a district number of the same name.
    continuity_scope: str | None = None


class Flags(Frozen):
    auto_reply: bool = False
    bounce: bool = False
    opt_out: bool = False
    opt_in: bool = False
    help: bool = False
    spam: bool = False
    unverified_sender: bool = False
    status_request: bool = False  # the sender asked for the status of their open requests (SMS STATUS)


# Shared defaults: the models are frozen, so one instance serves every message (and skips a validation each).
NO_HINTS = ThreadHints()
NO_FLAGS = Flags()


class InboundMessage(Frozen):
    id: str
    channel: ChannelName
    account: str
    provider_id: str | None = None
    received_at: datetime = Field(default_factory=utcnow)
    sender: str
    requester: Requester = Field(default_factory=Requester)
    subject: str = ""
    text: str
    full_text: str = ""
    language: str = "en"
    language_source: LanguageSource = "channel"
    category: str | None = None
    campus: str | None = None
    attachments: tuple[Attachment, ...] = ()
    thread_hints: ThreadHints = NO_HINTS
    flags: Flags = NO_FLAGS
    raw_ref: str | None = None


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Route(Frozen):
    queue: str = "general"
    backend: str = "builtin"
    priority: Priority = Priority.NORMAL
    category: str | None = None
    tags: tuple[str, ...] = ()
    assignee_group: str | None = None
    sla_policy: str | None = None
    auto_reply_template: str = "received"
    incident_id: str | None = None
    rule_ids: tuple[str, ...] = ()
    drop: bool = False  # spam: committed (so retries stay duplicates) but never made a ticket nor answered
    low_rating: str | None = None  # what a survey rating of 1 or 2 does: reopen, notify (the rules' low_rating)
    # Decided by the deliver worker, not at request time: they need state (who is away, open tickets).
    assignee: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None


ReplyEvent = Literal[
    "received",
    "status_changed",
    "answer",  # a public answer by staff in the ticket system, with no change of status
    "resolved",
    "csat",
    "csat_answer",  # the gateway's answer to a family's texted rating or comment
    "after_hours",
    "opted_out",
    "help",
    "incident_update",
    "incident_linked",  # a request linked to an incident at the desk: told once that it is part of a known problem
    "status_report",
]


class Reply(Frozen):
    conversation: str
    channel: ChannelName
    recipient: str
    event: ReplyEvent
    language: str = "en"
    subject: str = ""
    text: str
    html: str | None = None
    not_before: datetime | None = None
    # A person wrote its words (a staff member's public comment), not the gateway: Meta lets such a reply out
    # with the HUMAN_AGENT tag for 7 days, never an automatic one.
    by_person: bool = False


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


class StatusEvent(Frozen):
    backend: str
    ticket_ref: str
    status: TicketStatus
    public_comment: str | None = None
    actor: str = "staff"
    at: datetime = Field(default_factory=utcnow)
    # The system's own id for the change (a webhook's delivery id, a journal id): a redelivery is the same event.
    delivery_id: str | None = None

    def event_id(self) -> str:
        """The event's identity: its jobs, timeline entry and replies are keyed by it, so each happens once."""
        if self.delivery_id:
            basis = f"{self.backend}\x1fdelivery\x1f{self.delivery_id}"
        else:
            basis = f"{self.backend}\x1f{self.ticket_ref}\x1f{self.status.value}\x1f{self.at.isoformat()}"
        return hashlib.sha256(basis.encode()).hexdigest()[:32]


class Commitment(Frozen):
    """What the request path hands to the commit: one message, its conversation and its route."""

    message: InboundMessage
    fingerprint: str
    conversation: str
    route: Route
    evidence: str = "new"  # which evidence decided the conversation (gateway.conversations)
