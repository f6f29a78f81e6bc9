"""The Channel protocol: what every provider module declares and implements, and the defaults they share.

A channel is a plug-in. Its module declares:
- `routes()`: its HTTP paths. A route without a handler is an intake route: the server calls `receive`,
  commits every message it returns, then answers with `acknowledge`;
- `enabled(settings)`: whether the settings switch it on;
- `receive`: verify (on the raw bytes, fail closed) and parse, returning messages and the provider's ack;
- `deliver`: send one reply, with that channel's rules, from a worker.
Optional worker-side steps (`prepare`, `after_ticket`, `fetch_media`, `held_back`, `survey_blocked`,
`survey_sent`) and what `intake doctor` checks of the provider (`doctor_checks`) have defaults in `BaseChannel`.
The registry in `channels/__init__.py` is the one list of channels; nothing else names one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import jinja2
import redis
import redis.asyncio as aioredis
from pydantic import BaseModel

from gateway.errors import NotFound
from gateway.models import Commitment, InboundMessage, Reply
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from gateway.store.commit import CommitResult
from gateway.web.limits import Limits


@dataclass(frozen=True, slots=True)
class Received:
    """A channel's answer to one webhook: the messages to commit and the ack the provider expects.

    `threaded_only` messages are committed only when they continue a conversation we already have (a
    reply in a Slack thread the app is in, an out-of-office note): otherwise they are ignored, counted
    under `not_our_thread`. `ignored` names why parts of the request were no request at all (a bot's
    own post, an edit); each is counted in `intake_ignored_total{channel, reason}`.
    """

    messages: Sequence[InboundMessage]
    ack: AckResponse
    threaded_only: Sequence[InboundMessage] = ()
    ignored: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class HookContext:
    """What the web process lends a channel for one request. Per process, never per request."""

    redis: aioredis.Redis
    limits: Limits | None = None  # the abuse limits of the open doors (the JSON intake)


Handler = Callable[[InboundRequest, HookContext], Awaitable[AckResponse]]


@dataclass(frozen=True, slots=True)
class HookRoute:
    """One HTTP route of a channel. With no handler it is an intake route: receive, commit, acknowledge."""

    method: str
    path: str
    handler: Handler | None = None


class WorkerServices(Protocol):
    """What a worker lends a channel for its worker-side steps: clients built once per worker process."""

    @property
    def redis(self) -> redis.Redis: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def templates(self) -> jinja2.Environment: ...

    @property
    def blobs(self) -> BlobStore: ...

    def comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        """Add the commitment's message to ticket `ref` in the commitment's backend, once per key."""
        ...


@dataclass(frozen=True, slots=True)
class Handled:
    """`prepare` answered the message itself (a consent keyword, a STATUS question): no ticket, this outcome."""

    outcome: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A provider: verifies and parses inbound webhooks, and sends replies back out.

    Channel facts are class attributes so the outbox can plan without instantiating anything.
    """

    name: ClassVar[str]
    max_text_len: ClassVar[int]
    rate_per_sec: ClassVar[float]

    def routes(self) -> Sequence[HookRoute]:
        """The HTTP routes this channel answers."""
        ...

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        """Verify the signature over the raw bytes (fail closed), then normalize."""
        ...

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        """The provider's answer, built only after every message is durably committed."""
        ...

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """Send one reply; `key` is its delivery key (a retried job has the same). Returns the outcome.

        Runs in a worker, never on the request path. Raises to have the job retried, then dead-lettered.
        """
        ...

    def held_back(self, reply: Reply, svc: WorkerServices) -> str:
        """Why `deliver` would keep `reply` on the channel's outbound list now instead of sending it ("" if it
        would send it). A parked reply goes back on the replies queue once this is "" (workers/parked.py)."""
        ...

    def survey_blocked(self, conversation: Mapping[str, str], recipient: str, svc: WorkerServices) -> str:
        """Why this channel must not carry a satisfaction survey to `recipient` now ("" when it may): an opted-out
        number, a no-reply address, a closed messaging window. Names no person: it is kept on the survey."""
        ...

    def survey_sent(self, reply: Reply, expires_at: float, svc: WorkerServices) -> None:
        """A survey was queued on this channel (it is good until `expires_at`, epoch s): get ready for its answer."""
        ...

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        """Before the ticket: enrich the message (a profile lookup), or answer it without a ticket."""
        ...

    def after_ticket(self, commitment: Commitment, ref: str, svc: WorkerServices) -> None:
        """After the ticket (or its comment) exists: follow-up work such as fetching media."""
        ...

    def fetch_media(self, commitment: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
        """Fetch the message's provider-hosted files into the blob store and add them to ticket `ref`."""
        ...


class ChannelClass(Protocol):
    """A registry entry: the channel's class, asked whether it is on before it is built."""

    # The model of the channel's own `channels.<name>` section, for a channel this release's settings do not
    # name; None when it takes none. Checked when a process starts.
    settings_model: type[BaseModel] | None

    def __call__(self, settings: Settings, blobs: BlobStore) -> Channel: ...

    def enabled(self, settings: Settings) -> bool: ...

    def reply_targets(self, conversation: Mapping[str, str]) -> list[tuple[str, str]]: ...

    def doctor_checks(self, settings: Settings) -> list[tuple[str, bool, str]]: ...


class BaseChannel:
    """Defaults a channel may keep: one intake route at /hooks/<name>, replies to the sender, no worker steps."""

    name: ClassVar[str] = ""
    max_text_len: ClassVar[int] = 4096
    rate_per_sec: ClassVar[float] = 1.0
    settings_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.blobs = blobs

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return True

    @classmethod
    def reply_targets(cls, conversation: Mapping[str, str]) -> list[tuple[str, str]]:
        """(channel, recipient) for each reply an event on a conversation of this channel sends."""
        return [(cls.name, conversation.get("sender", ""))]

    @classmethod
    def doctor_checks(cls, settings: Settings) -> list[tuple[str, bool, str]]:
        """What `intake doctor` reports of the provider while the channel is on: (name, ok, detail) each."""
        return []

    def routes(self) -> Sequence[HookRoute]:
        return [HookRoute("POST", f"/hooks/{self.name}")]

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        raise NotFound(f"the {self.name} channel takes no webhooks")

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        return received.ack

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        raise NotImplementedError(f"the {self.name} channel sends no replies")

    def held_back(self, reply: Reply, svc: WorkerServices) -> str:
        return ""

    def survey_blocked(self, conversation: Mapping[str, str], recipient: str, svc: WorkerServices) -> str:
        return ""

    def survey_sent(self, reply: Reply, expires_at: float, svc: WorkerServices) -> None:
        return None

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        return commitment

    def after_ticket(self, commitment: Commitment, ref: str, svc: WorkerServices) -> None:
        return None

    def fetch_media(self, commitment: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
        return {"kept": 0, "refused": 0, "deleted": 0}
