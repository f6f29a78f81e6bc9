"""Conversation resolution: which conversation a message belongs to, and which evidence decided.

Evidence is tried in order (DESIGN.md section 4); the first that holds wins, and the winner is
recorded on the request so an operator can ask why:
1. a reply token we issued (plus-address, or the [#ticket] tag in a subject), only when the sender
   is already a participant of that conversation;
2. In-Reply-To, then References (newest first), against every Message-ID we received or sent, again
   only for a participant (its first sender, anyone who wrote on it, anyone a mail on it was openly
   addressed to) or for district staff the directory knows;
3. a provider's thread (Slack: the team, channel and thread root ts) that a conversation already owns;
4. channels that thread by sender (SMS, voicemail, direct messages: the channel sets the message's
   `sender_continuity` hint): the same sender on the same account continues its latest conversation while
   that is still open and active within the window ("sender_continuity"); after it was resolved or
   closed the text opens a new one ("new_after_resolved"), and a NEW keyword always does ("new_by_keyword");
5. otherwise a new conversation. Two different senders are never merged on a subject alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from gateway import keys
from gateway.intake.key_reads import KeyReads
from gateway.intake.sender_lookups import SenderLookups
from gateway.models import InboundMessage
from gateway.outbox.consent import phone_digest
from gateway.store.redis_conn import text

THREAD_KEY_TTL_S = 2 * 366 * 86400  # a family may answer last year's thread


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation: str
    # reply_token | subject_token | in_reply_to | references | provider_thread | sender_continuity | new...
    evidence: str


def reply_token_for(conversation: str) -> str:
    """The token in our Reply-To plus-address: short, case-insensitive, unguessable enough to need a sender match."""
    return conversation[10:18].upper()


def normalize_address(addr: str) -> str:
    """Who an address is, for participant checks: case-blind, and an email's +tag dropped (ana+school@ is ana@).

    A phone number keeps its leading +."""
    addr = addr.strip().lower()
    local, at, domain = addr.rpartition("@")
    return local.partition("+")[0] + at + domain if at else addr


# Evidence that names a conversation but not who may write on it: it holds only for the conversation's participants.
# Everyone who got one newsletter quotes the same Message-ID (Zammad #5064); a provider thread is not on this list
# because a Slack workspace's members are all staff.
QUOTED = ("in_reply_to", "references")
PARTICIPANTS_ONLY = ("reply_token", "subject_token", *QUOTED)
CLOSED_STATUSES = ("resolved", "closed")


def continues_by_sender(m: InboundMessage) -> bool:
    """Whether a message takes part in sender continuity (consent keywords are no request: DESIGN.md 3.3)."""
    f = m.flags
    return m.thread_hints.sender_continuity and not (f.opt_out or f.opt_in or f.help or f.status_request)


def continuity_key(m: InboundMessage) -> str:
    return keys.sms_latest(m.thread_hints.continuity_scope or m.account, phone_digest(m.sender))


class ConversationResolver:
    def __init__(self, client: aioredis.Redis, default_backend: str, continuity_window_s: int = 7 * 86400) -> None:
        self.client = client
        self.backend = default_backend
        self.continuity_window_s = continuity_window_s
        self.senders = SenderLookups(client)
        self.reads = KeyReads(client)

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
        if candidates:
            found = await self.reads.get([k for _, k in candidates])
            refused: set[tuple[str, bool]] = set()  # a reply's References mostly name one conversation many times
            for (evidence, _), conv_id in zip(candidates, found, strict=True):
                if conv_id is None or (conv_id, evidence in QUOTED) in refused:
                    continue
                if evidence in PARTICIPANTS_ONLY and not await self.may_join(conv_id, m, evidence):
                    # A token or a quoted Message-ID alone never lets a stranger into another's conversation.
                    refused.add((conv_id, evidence in QUOTED))
                    continue
                return Resolution(conv_id, evidence)
        if continues_by_sender(m):
            return await self.by_sender(m)
        return Resolution(m.id, "new")

    async def by_sender(self, m: InboundMessage) -> Resolution:
        """Evidence 4: the sender's latest conversation on this district number, if still open and recent."""
        if m.thread_hints.force_new:
            return Resolution(m.id, "new_by_keyword")
        latest = await self.senders.latest(continuity_key(m))  # grouped with the other texts arriving now
        if latest is None:
            return Resolution(m.id, "new")
        if latest.status in CLOSED_STATUSES:
            return Resolution(m.id, "new_after_resolved")
        try:
            idle = (m.received_at - datetime.fromisoformat(latest.last_activity)).total_seconds()
        except ValueError:
            return Resolution(m.id, "new")
        if idle > self.continuity_window_s:
            return Resolution(m.id, "new")
        return Resolution(latest.conversation, "sender_continuity")

    async def may_join(self, conv: str, m: InboundMessage, evidence: str) -> bool:
        """A participant, or district staff the directory knows (answering a family from their own mail client).

        Staff may join on a quoted Message-ID only: a reply token is the family's, and a tag in a subject is
        easy to copy."""
        if m.requester.role == "staff" and evidence in QUOTED:
            return True
        return await self.is_participant(conv, m.sender)

    async def is_participant(self, conv: str, sender: str) -> bool:
        who = normalize_address(sender)
        if await self.client.sismember(keys.participants(conv), who):
            return True
        first = await self.client.hget(keys.conversation(conv), "sender")
        return normalize_address(text(first or "")) == who
