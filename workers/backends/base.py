"""The TicketBackend protocol: what every ticket system module implements, and the defaults they share.

A backend is a plug-in: one module here and one line in the registry (`workers/backends/__init__.py`).
Nothing else in the gateway branches on which system a ticket lives in: delivery, incidents, SLA
rescheduling and status sync all go through this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel

from gateway.errors import NotFound
from gateway.models import Commitment, InboundMessage, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings

# How status and staff answers come back from a ticket system: its own webhooks, at
# POST /backends/<name>/events, polling by the `intake sync` process (one poller across instances), or mail
# its help desk sends to a relay address on a gateway mailbox, read by the `intake mail` poller.
StatusSource = Literal["webhook", "polling", "mail"]


@dataclass(frozen=True)
class Forgotten:
    """What a backend removed for a records request: how many tickets, and the blob keys no ticket uses any more."""

    tickets: int = 0
    blob_keys: tuple[str, ...] = ()


class TicketBackend(Protocol):
    """A ticket system. Every write takes an idempotency key, so a retried job never doubles a ticket."""

    name: ClassVar[str]
    # Empty: every change is made through the gateway itself (the built-in store's `intake tickets`).
    status_source: ClassVar[frozenset[StatusSource]]

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        """Create a ticket for a new conversation; return its ref. The same key returns the same ref."""
        ...

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        """Add a message to an existing ticket: the requester's follow-up (public), or our own internal note."""
        ...

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        """Link a request to an incident's parent ticket, with the system's own relation."""
        ...

    def fetch_status(self, ref: str) -> TicketStatus:
        """The ticket's current status, as the system says it."""
        ...

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        """Change a ticket's status (an incident's update, on its parent and each child), once per key."""
        ...

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        """Move a response clock's due time on the ticket (a closure declared after it was made)."""
        ...

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        """Verify a webhook from the system (fail closed) and read its status changes and public answers."""
        ...

    def poll_changes(self, checkpoint: str) -> tuple[list[StatusEvent], str]:
        """Everything changed since `checkpoint` (empty: start now), in one query; and the next checkpoint."""
        ...

    def from_help_desk(self, sender: str) -> bool:
        """Whether mail from `sender` is the system's own (a help desk fed by mail answering on a relay address)."""
        ...

    def mail_events(self, message: InboundMessage, ticket_ref: str, status: TicketStatus) -> list[StatusEvent]:
        """The status changes and public answers in a mail the system sent about `ticket_ref` (now at `status`)."""
        ...

    def check(self) -> list[str]:
        """What `intake check-config` and `intake doctor` report: credentials, and that mapped queues exist.

        Empty when all is well; each problem names what is wrong and what to fix. Never raises.
        """
        ...

    def forget_requester(self, emails: Sequence[str], phones: Sequence[str], conversations: Sequence[str]) -> Forgotten:
        """A family's records request: remove the tickets this gateway keeps for them (their addresses, or the
        conversations given). A system that keeps its own records returns nothing: the district purges it there."""
        ...


class BackendClass(Protocol):
    """A registry entry: the backend's class, asked whether the settings switch it on before it is built."""

    status_source: frozenset[StatusSource]
    # Whether `fetch_status` answers: a family asking for their status is told what the system says now.
    answers_status: bool
    # A system outside this installation, which can be down or refuse our credentials: /readyz and the dashboard
    # show its outage circuit. False for a store the gateway keeps itself.
    remote: bool
    # The model of the backend's `backends.<name>` section; None when it takes none. Checked at start.
    settings_model: type[BaseModel] | None

    def from_settings(self, settings: Settings) -> TicketBackend: ...

    def enabled(self, settings: Settings) -> bool: ...


class BaseBackend:
    """Defaults a backend may keep: no clocks on the ticket, no webhooks, nothing to poll."""

    name: ClassVar[str] = ""
    status_source: ClassVar[frozenset[StatusSource]] = frozenset()
    answers_status: ClassVar[bool] = True
    remote: ClassVar[bool] = True
    settings_model: ClassVar[type[BaseModel] | None] = None
    # What an operator sets to switch the backend on, for the error when a rule or the default names it while off.
    switch_on: ClassVar[str] = ""

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return True

    @classmethod
    def config_problems(cls, settings: Settings) -> list[str]:
        """What its section cannot say alone (a section it relies on), checked at start; each names file and key."""
        return []

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        return None  # a system without due-date fields keeps its own clocks; ours still run in Redis

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        raise NotFound(f"the {self.name} backend sends no webhooks")

    def poll_changes(self, checkpoint: str) -> tuple[list[StatusEvent], str]:
        return [], checkpoint

    def from_help_desk(self, sender: str) -> bool:
        return False

    def mail_events(self, message: InboundMessage, ticket_ref: str, status: TicketStatus) -> list[StatusEvent]:
        return []

    def check(self) -> list[str]:
        return []

    def forget_requester(self, emails: Sequence[str], phones: Sequence[str], conversations: Sequence[str]) -> Forgotten:
        return Forgotten()
