"""Conversation resolution: which conversation a message belongs to, and which evidence decided.

Evidence is tried in order (DESIGN.md section 4); the first that holds wins. Two different senders
are never merged on subject alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway import keys
from gateway.models import InboundMessage


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation: str
    evidence: str  # "reply_token" | "new"


class ConversationResolver:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def resolve(self, message: InboundMessage) -> Resolution:
        token = message.thread_hints.reply_token
        if token:
            conv = await self.client.hgetall(keys.conversation(token))
            # A token only threads a message from someone already in that conversation.
            if conv and conv.get("sender") == message.sender:
                return Resolution(token, "reply_token")
        return Resolution(message.id, "new")
