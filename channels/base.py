"""The Channel protocol: what every provider module implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.models import InboundMessage, Reply
from gateway.server.http import AckResponse, InboundRequest
from gateway.store.commit import CommitResult


@dataclass(frozen=True, slots=True)
class Received:
    """A channel's answer to one webhook: the messages to commit and the ack the provider expects."""

    messages: list[InboundMessage]
    ack: AckResponse


class Channel(Protocol):
    """A provider: verifies and parses inbound webhooks, and sends replies back out.

    Channel facts are class attributes so the outbox can plan without instantiating anything.
    """

    name: str
    max_text_len: int
    rate_per_sec: float

    async def receive(self, req: InboundRequest) -> Received:
        """Verify the signature over the raw bytes (fail closed), then normalize."""
        ...

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        """The provider's answer, built only after every message is durably committed."""
        ...

    def deliver(self, reply: Reply) -> str:
        """Send one reply; return a delivery receipt id. Runs in a worker, never on the request path."""
        ...
