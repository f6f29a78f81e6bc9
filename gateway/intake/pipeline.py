"""The inbound pipeline: fingerprint -> identity and language -> conversation -> route -> commit, per message.

Messages that arrive together (one webhook's messages, a batch of mail) are threaded in the order given:
each sees the ones before it, whose commits may not have answered yet (conversations.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from gateway.directory.identity import IdentityResolver
from gateway.ids import fingerprint
from gateway.intake.conversations import ConversationResolver, Resolution
from gateway.intake.languages import assign_language
from gateway.metrics import Metrics
from gateway.models import Commitment, InboundMessage
from gateway.routing.router import Router
from gateway.store.commit import CommitResult
from gateway.store.redis_conn import unavailable

if TYPE_CHECKING:
    from channels.base import Received
from gateway.store.group_commit import GroupCommitter


class Arrival(NamedTuple):  # a tuple: one is made per message on the request path
    """One message to accept, with the bytes it came in (its fingerprint when it has no provider id)."""

    message: InboundMessage
    content: bytes
    # Not empty: accept it only if it continues a conversation (a reply in a Slack thread, an out-of-office
    # note); otherwise it is ignored and counted in intake_ignored_total under this reason.
    threaded_only: str = ""


class _Draft(NamedTuple):
    message: InboundMessage
    fingerprint: str


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
        # accept_all([Arrival(message, content)]) without the bookkeeping for several: most requests carry one.
        draft = await self._prepare(message, content, scope)
        resolution = await self._resolve_one(draft.message) if self.committer.resolving else None
        wait = self._submit(draft, "", resolution)  # nothing awaited since the decision
        assert wait is not None  # only a threaded-only message is ever left out
        return await wait

    async def _resolve_one(self, m: InboundMessage) -> Resolution | None:
        """`m`'s conversation, or None when Redis cannot be read now (then it is threaded when the spool drains)."""
        try:
            return await self.resolver.resolve(m)
        except Exception as exc:
            if not unavailable(exc):
                raise
            self.committer.mark_down()  # the next messages go to the spool too, behind this one
            return None

    async def accept_received(self, channel: str, received: Received, content: bytes) -> list[CommitResult]:
        """Commit what one webhook carried: every message, and the threaded-only ones that continue a thread.

        Returns one result per message of `received.messages`, in order, once each is safe to acknowledge.
        """
        for reason in received.ignored:
            self.metrics.ignored.labels(channel, reason).inc()
        if len(received.messages) == 1 and not received.threaded_only:
            return [await self.accept(received.messages[0], content)]
        arrivals = [Arrival(m, content) for m in received.messages]
        arrivals += (Arrival(m, content, "not_our_thread") for m in received.threaded_only)
        results = await self.accept_all(arrivals)
        return [r for r in results[: len(received.messages)] if r is not None]

    async def accept_all(self, arrivals: Sequence[Arrival], *, scope: str | None = None) -> list[CommitResult | None]:
        """Commit each arrival, threaded in the order given. Returns, once each is safe to acknowledge, one result
        per arrival: None for a threaded-only one that continues no conversation (nothing is stored for it).

        While Redis cannot be read, or the spool still holds messages that came first, nothing is threaded here:
        the messages are spooled with their thread evidence and threaded when the spool drains.
        """
        if len(arrivals) == 1:  # the common case: no gather, no extra task
            drafts = [await self._prepare(arrivals[0].message, arrivals[0].content, scope)]
        else:
            drafts = list(await asyncio.gather(*(self._prepare(a.message, a.content, scope) for a in arrivals)))
        waits: list[asyncio.Future[CommitResult] | None] = [None] * len(arrivals)

        def submit(i: int, resolution: Resolution | None) -> None:
            if resolution is None and self.committer.redis_up:
                self.committer.mark_down()  # Redis failed this message's reads: the next ones are spooled too
            waits[i] = self._submit(drafts[i], arrivals[i].threaded_only, resolution)

        if self.committer.resolving:
            await self.resolver.resolve_each([d.message for d in drafts], submit)
        else:
            for i in range(len(arrivals)):
                waits[i] = self._submit(drafts[i], arrivals[i].threaded_only, None)
        if len(waits) == 1:
            return [await waits[0] if waits[0] is not None else None]
        answered = iter(await asyncio.gather(*(w for w in waits if w is not None)))
        return [next(answered) if w is not None else None for w in waits]

    def _submit(
        self, draft: _Draft, threaded_only: str, resolution: Resolution | None
    ) -> asyncio.Future[CommitResult] | None:
        m = draft.message
        if resolution is None:
            c = Commitment(message=m, fingerprint=draft.fingerprint, conversation=m.id, route=self.router.route(m))
            return self.committer.enqueue(c, resolved=False, threaded_only=threaded_only)
        if threaded_only and resolution.conversation == m.id:
            self.metrics.ignored.labels(m.channel, threaded_only).inc()
            return None
        c = Commitment(
            message=m,
            fingerprint=draft.fingerprint,
            conversation=resolution.conversation,
            evidence=resolution.evidence,
            route=self.router.route(m),
        )
        return self.committer.enqueue(c)

    async def _prepare(self, message: InboundMessage, content: bytes, scope: str | None) -> _Draft:
        self.metrics.child(self.metrics.received, message.channel).inc()
        fp = fingerprint(message.channel, scope or message.account, message.provider_id, content)
        directory_language = None
        if self.identity is not None:
            identified = await self.identity.resolve(message)
            message, directory_language = identified.message, identified.directory_language
        # Detected here only when a rule routes on it; otherwise the deliver job detects it (languages.py).
        message = assign_language(message, directory_language, self.default_language, detect=self.router.needs_language)
        self.metrics.child(self.metrics.languages, message.language, message.language_source).inc()
        return _Draft(message, fp)
