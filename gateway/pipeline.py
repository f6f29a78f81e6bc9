"""The inbound pipeline: fingerprint -> conversation -> route -> commit, for each message of a webhook."""

from __future__ import annotations

import redis

from gateway.commit import CommitResult
from gateway.conversations import ConversationResolver, Resolution
from gateway.group_commit import GroupCommitter
from gateway.ids import fingerprint
from gateway.metrics import Metrics
from gateway.models import Commitment, InboundMessage
from gateway.routing import Router


class Pipeline:
    def __init__(
        self, resolver: ConversationResolver, router: Router, committer: GroupCommitter, metrics: Metrics
    ) -> None:
        self.resolver = resolver
        self.router = router
        self.committer = committer
        self.metrics = metrics

    async def accept(self, message: InboundMessage, content: bytes) -> CommitResult:
        """Commit one message durably (Redis or spool). Returns only once it is safe to acknowledge."""
        self.metrics.received.labels(message.channel).inc()
        fp = fingerprint(message.channel, message.account, message.provider_id, content)
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
        return await self.committer.submit(commitment)
