"""The TicketBackend protocol: what every ticket system module implements."""

from __future__ import annotations

from typing import Protocol

from gateway.models import Commitment, TicketStatus


class TicketBackend(Protocol):
    """A ticket system. Every write takes an idempotency key, so a retried job never doubles a ticket."""

    name: str

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        """Create a ticket for a new conversation; return its ref. The same key returns the same ref."""
        ...

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str) -> str:
        """Add a follow-up message from the requester to an existing ticket; return the comment id."""
        ...

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        """Link a request to an incident's parent ticket."""
        ...

    def fetch_status(self, ref: str) -> TicketStatus:
        """The ticket's current status (for systems without webhooks)."""
        ...
