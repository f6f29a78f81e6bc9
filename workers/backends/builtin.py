"""The built-in ticket store as a backend: so a new install works with no help desk at all.

The store itself (SQLite or PostgreSQL, migrations, search, the desk's tables) is `gateway/tickets/`; this
module only turns what the worker hands a backend (a Commitment, a status change) into the store's records.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from gateway.errors import storage_full
from gateway.models import Commitment, StatusEvent, TicketStatus
from gateway.settings import Settings
from gateway.tickets import NewAttachment, NewComment, NewTicket, TicketDetails, TicketStore, UnknownTicket
from gateway.tickets.records import AuthorKind, Ticket
from workers.backends.base import BaseBackend, Forgotten
from workers.backends.errors import BackendUnavailable

__all__ = ["BuiltinBackend", "UnknownTicket"]


def _files(commitment: Commitment) -> tuple[NewAttachment, ...]:
    return tuple(
        NewAttachment(filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256,
                      storage_key=a.storage_key, kept=a.kept, reason=a.reason)
        for a in commitment.message.attachments
    )  # fmt: skip


def new_ticket(commitment: Commitment) -> NewTicket:
    m, route = commitment.message, commitment.route
    return NewTicket(
        conversation=commitment.conversation, subject=m.subject or m.text[:80], body=m.text, channel=m.channel,
        queue=route.queue, language=m.language, priority=route.priority.value, category=route.category,
        school=m.campus, requester_name=m.requester.display_name, requester_email=m.requester.email,
        requester_phone=m.requester.phone, requester_role=m.requester.role,
        requester_directory_id=m.requester.directory_id, assignee=route.assignee,
        first_response_due=route.first_response_due, resolution_due=route.resolution_due, tags=route.tags,
        rule_ids=route.rule_ids, incident_id=route.incident_id, attachments=_files(commitment),
    )  # fmt: skip


@contextmanager
def full_disk_is_an_outage() -> Iterator[None]:
    """A full disk is an outage of the store, not a fault of the request: held and probed like a ticket system
    that is down (workers/circuit.py), never spent against the retries and dead-lettered; it resumes once there
    is room again."""
    try:
        yield
    except Exception as exc:
        if storage_full(exc):
            raise BackendUnavailable("builtin", "the ticket store's disk is full") from exc
        raise


class BuiltinBackend(BaseBackend):
    """The first plug-in: tickets in the built-in store, worked at the desk and with `intake tickets`."""

    name = "builtin"
    remote = False  # the store lives beside the gateway: no outage circuit to show

    def __init__(self, store: TicketStore) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings) -> BuiltinBackend:
        return cls(TicketStore.from_settings(settings))

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        with full_disk_is_an_outage():
            return str(self.store.create_ticket(new_ticket(commitment), idempotency_key))

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        m = commitment.message
        # The gateway's own notes (a reply that never arrived) are written as "Intake Gateway" from no one's address.
        kind: AuthorKind = "system" if m.sender == "intake-gateway" else "requester"
        comment = NewComment(body=m.text, author=m.requester.display_name or "requester", author_kind=kind,
                             public=public, channel=m.channel, attachments=_files(commitment))  # fmt: skip
        with full_disk_is_an_outage():
            return str(self.store.add_comment(ref, comment, idempotency_key))

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        self.store.link_child(parent_ref, child_ref)

    def fetch_status(self, ref: str) -> TicketStatus:
        return TicketStatus(self.store.get(ref).status)

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        self.update_status(ref, status, comment, actor, idempotency_key=idempotency_key)

    def update_status(
        self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str | None = None
    ) -> StatusEvent:
        """Change the status (the operators' side: `intake tickets update`, the desk); the event to publish."""
        change = self.store.set_status(ref, status.value, comment, actor, idempotency_key)
        return StatusEvent(backend=self.name, ticket_ref=str(change.ticket_id), status=status, public_comment=comment,
                           actor=actor, at=change.at)  # fmt: skip

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        """Move a response clock's due time (a closure was declared after the ticket was made)."""
        self.store.set_due(ref, kind, due)

    def get(self, ref: str) -> Ticket:
        return self.store.get(ref)

    def details(self, ref: str) -> TicketDetails:
        return self.store.details(ref)

    def count(self) -> int:
        return self.store.count()

    def check(self) -> list[str]:
        try:
            self.store.revision()
        except Exception as exc:  # what doctor and check-config report; never raised
            return [f"built-in ticket store ({self.store.dialect}) unreachable: {type(exc).__name__}"]
        return []

    def forget_requester(self, emails: Sequence[str], phones: Sequence[str], conversations: Sequence[str]) -> Forgotten:
        """Delete their tickets and everything on them; the files no other ticket uses are returned for removal."""
        removed = self.store.forget(emails, phones, conversations)
        return Forgotten(removed.tickets, removed.blob_keys)
