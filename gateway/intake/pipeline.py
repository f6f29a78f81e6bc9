"""The inbound pipeline: fingerprint -> identity and language -> conversation -> route -> commit, per message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis

from gateway.directory.identity import IdentityResolver
from gateway.ids import fingerprint
from gateway.intake.conversations import ConversationResolver, Resolution, continues_by_sender, continuity_key
from gateway.intake.languages import assign_language
from gateway.metrics import Metrics
from gateway.models import Commitment, InboundMessage
from gateway.routing.router import Router
from gateway.store.commit import CommitResult

if TYPE_CHECKING:
    from channels.base import Received
from gateway.store.group_commit import GroupCommitter


class Pipeline:
    def __init__(
        self,
        resolver: ConversationResolver,
        router: Router,
        committer: GroupCommitter,
        metrics: Metrics,
        *,
        identity: IdentityResolver | None = None,
        default_language: str = "en",
    ) -> None:
        self.resolver = resolver
        self.router = router
        self.committer = committer
        self.metrics = metrics
        self.identity = identity
        self.default_language = default_language

    async def accept(self, message: InboundMessage, content: bytes, *, scope: str | None = None) -> CommitResult:
        """Commit one message durably (Redis or spool). Returns only once it is safe to acknowledge.

        `scope` replaces the account in the dedupe identity: an email sent to two of our mailboxes is one request.
        """
        commitment, _ = await self._prepare(message, content, scope)
        return await self.committer.submit(commitment)

    async def accept_received(self, channel: str, received: Received, content: bytes) -> list[CommitResult]:
        """Commit what one webhook carried: every message, and the threaded-only ones that continue a thread.

        Returns one result per message of `received.messages`, in order, once each is safe to acknowledge.
        """
        for reason in received.ignored:
            self.metrics.ignored.labels(channel, reason).inc()
        messages = received.messages
        if len(messages) == 1:  # the common case: no gather, no extra task
            results = [await self.accept(messages[0], content)]
        else:
            results = await self._accept_in_sender_order(messages, content)
        for m in received.threaded_only:
            if await self.accept_if_threaded(m, content) is None:
                self.metrics.ignored.labels(channel, "not_our_thread").inc()
        return results

    async def _accept_in_sender_order(self, messages: Sequence[InboundMessage], content: bytes) -> list[CommitResult]:
        """Commit a webhook's messages: those of one sender on one account in order, each after the one before
        it is committed, so the second continues the conversation the first opened (a Meta batch carries several
        messages of one person); different senders' messages at the same time."""
        lanes: dict[str, list[int]] = {}
        for i, m in enumerate(messages):
            lanes.setdefault(continuity_key(m) if continues_by_sender(m) else f"#{i}", []).append(i)
        results: list[CommitResult | None] = [None] * len(messages)

        async def lane(indexes: list[int]) -> None:
            for i in indexes:
                results[i] = await self.accept(messages[i], content)

        await asyncio.gather(*(lane(indexes) for indexes in lanes.values()))
        return [r for r in results if r is not None]

    async def accept_if_threaded(
        self, message: InboundMessage, content: bytes, *, scope: str | None = None
    ) -> CommitResult | None:
        """Commit only when the message continues a conversation (an out-of-office reply is no new request)."""
        commitment, resolution = await self._prepare(message, content, scope)
        if resolution.evidence == "new":
            return None
        return await self.committer.submit(commitment)

    async def _prepare(
        self, message: InboundMessage, content: bytes, scope: str | None
    ) -> tuple[Commitment, Resolution]:
        self.metrics.child(self.metrics.received, message.channel).inc()
        fp = fingerprint(message.channel, scope or message.account, message.provider_id, content)
        directory_language = None
        if self.identity is not None:
            identified = await self.identity.resolve(message)
            message, directory_language = identified.message, identified.directory_language
        # Detected here only when a rule routes on it; otherwise the deliver job detects it (languages.py).
        message = assign_language(message, directory_language, self.default_language, detect=self.router.needs_language)
        self.metrics.child(self.metrics.languages, message.language, message.language_source).inc()
        resolution = Resolution(message.id, "new")
        if self.committer.redis_up:
            try:
                resolution = await self.resolver.resolve(message)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                # Redis went away: the message still gets in (spooled) as a new conversation.
                resolution = Resolution(message.id, "new")
        commitment = Commitment(
            message=message,
            fingerprint=fp,
            conversation=resolution.conversation,
            evidence=resolution.evidence,
            route=self.router.route(message),
        )
        return commitment, resolution
