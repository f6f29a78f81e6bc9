"""Conversation resolution: which conversation a message belongs to, and which evidence decided.

Evidence is tried in order (DESIGN.md section 4); the first that holds wins, and the winner is
recorded on the request so an operator can ask why:
1. a reply token we issued (plus-address, or the [#ticket] tag in a subject), only when the sender
   is already a participant of that conversation;
2. In-Reply-To, then References (newest first), against every Message-ID we received or sent;
3. a provider's thread (Slack: the team, channel and thread root ts) that a conversation already owns;
4. otherwise a new conversation. Two different senders are never merged on a subject alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway import keys
from gateway.models import InboundMessage
from gateway.redis_conn import text

THREAD_KEY_TTL_S = 2 * 366 * 86400  # a family may answer last year's thread


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation: str
    evidence: str  # reply_token | subject_token | in_reply_to | references | provider_thread | new


def reply_token_for(conversation: str) -> str:
    """The token in our Reply-To plus-address: short, case-insensitive, unguessable enough to need a sender match."""
    return conversation[10:18].upper()


def normalize_address(addr: str) -> str:
    return addr.strip().lower()


class ConversationResolver:
    def __init__(self, client: aioredis.Redis, default_backend: str) -> None:
        self.client = client
        self.backend = default_backend

    async def resolve(self, m: InboundMessage) -> Resolution:
        h = m.thread_hints
        candidates: list[tuple[str, str]] = []
        if h.reply_token:
            candidates.append(("reply_token", keys.reply_token(h.reply_token)))
        if h.subject_token:
            candidates.append(("subject_token", keys.ticket(self.backend, h.subject_token)))
        if h.in_reply_to:
            candidates.append(("in_reply_to", keys.message_id(h.in_reply_to)))
        candidates.extend(("references", keys.message_id(r)) for r in reversed(h.references))
        if h.conversation_id and h.thread_ts:
            candidates.append(("provider_thread", keys.provider_thread(m.channel, h.conversation_id, h.thread_ts)))
        if not candidates:
            return Resolution(m.id, "new")
        found = await self.client.mget([k for _, k in candidates])
        for (evidence, _), conv in zip(candidates, found, strict=True):
            if conv is None:
                continue
            conv_id = text(conv)
            if evidence in ("reply_token", "subject_token") and not await self.is_participant(conv_id, m.sender):
                continue  # a token alone never lets a stranger into someone else's conversation
            return Resolution(conv_id, evidence)
        return Resolution(m.id, "new")

    async def is_participant(self, conv: str, sender: str) -> bool:
        who = normalize_address(sender)
        if await self.client.sismember(keys.participants(conv), who):
            return True
        first = await self.client.hget(keys.conversation(conv), "sender")
        return normalize_address(text(first or "")) == who
