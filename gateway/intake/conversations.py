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

"Already have" includes the messages submitted for commit before this one that Redis may not show yet (the
earlier messages of its own group commit, a batch still in flight: gateway.intake.uncommitted). So that a
message sees every message before it, a caller resolves messages one at a time in the order it commits
them, and hands each to the commit before the next is decided: `resolve_each` does that for a group,
reading Redis for all of them at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as aioredis

from gateway import keys
from gateway.intake.key_reads import KeyReads
from gateway.intake.sender_lookups import Latest, SenderLookups
from gateway.intake.uncommitted import Facts, Uncommitted
from gateway.models import Commitment, InboundMessage
from gateway.outbox.consent import phone_digest
from gateway.store.redis_conn import text, unavailable

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


def thread_facts(c: Commitment) -> Facts | None:
    """What committing `c` makes visible to threading (the keys gateway.store.commit writes for it), or None
    when it is nothing a later message could thread on (a web form message).

    Participants are kept for mail only: a participant check guards a reply token, a ticket tag or a quoted
    Message-ID, which only mail carries, and of the conversations still on their way only a mail's own
    Message-ID can be quoted yet (our replies, with their tokens, follow a commit)."""
    m = c.message
    h = m.thread_hints
    claims: tuple[str, ...] = ()
    people: frozenset[str] = frozenset()
    if m.channel == "email" and m.provider_id:
        claims = (keys.message_id(m.provider_id),)
        people = frozenset((normalize_address(m.sender), *(normalize_address(a) for a in h.copied)))
    if h.conversation_id and h.thread_ts:
        claims += (keys.provider_thread(m.channel, h.conversation_id, h.thread_ts),)
    if continues_by_sender(m):
        return Facts(claims, continuity_key(m), people)
    return Facts(claims, "", people) if claims else None


_UNREAD = Latest("", "", "")  # the sender's latest conversation has not been read yet


@dataclass(eq=False, slots=True)
class Reading:
    """One message's resolution under way: what it asked Redis and what Redis answered so far."""

    candidates: list[tuple[str, str]]  # (evidence, key) in order of precedence
    stored: list[str | None]  # Redis's value at each candidate's key
    members: dict[str, bool] = field(default_factory=dict)  # conversation -> the sender is a participant in Redis
    latest: Latest | None = _UNREAD
    continuity: str = ""  # the sender's continuity key, once asked for


def candidates(m: InboundMessage, backend: str) -> list[tuple[str, str]]:
    h = m.thread_hints
    found: list[tuple[str, str]] = []
    if h.reply_token:
        found.append(("reply_token", keys.reply_token(h.reply_token)))
    if h.subject_token:
        found.append(("subject_token", keys.ticket(backend, h.subject_token)))
    if h.in_reply_to:
        found.append(("in_reply_to", keys.message_id(h.in_reply_to)))
    found.extend(("references", keys.message_id(r)) for r in reversed(h.references))
    if h.conversation_id and h.thread_ts:
        found.append(("provider_thread", keys.provider_thread(m.channel, h.conversation_id, h.thread_ts)))
    return found


class ConversationResolver:
    def __init__(
        self,
        client: aioredis.Redis,
        default_backend: str,
        continuity_window_s: int = 7 * 86400,
        uncommitted: Uncommitted | None = None,
    ) -> None:
        self.client = client
        self.backend = default_backend
        self.continuity_window_s = continuity_window_s
        self.uncommitted = uncommitted if uncommitted is not None else Uncommitted()
        self.senders = SenderLookups(client)
        self.reads = KeyReads(client)

    async def resolve(self, m: InboundMessage) -> Resolution:
        """Resolve one message. Nothing is awaited after the decision: submit it before resolving another.

        Raises what Redis raised."""
        found = candidates(m, self.backend)
        if not found and not continues_by_sender(m):
            return Resolution(m.id, "new")  # no evidence to look up (a web form message): nothing to wait for
        began = self.uncommitted.begin()
        try:
            stored = await self.reads.get([k for _, k in found]) if found else []
            return await self.decide(m, Reading(found, stored))
        finally:
            self.uncommitted.end(began)

    async def resolve_each(
        self, messages: Sequence[InboundMessage], submit: Callable[[int, Resolution | None], None]
    ) -> None:
        """Resolve `messages` in order, each seeing the ones before it. Their reads go to Redis together; then
        `submit(i, resolution)` runs as soon as message i is decided, before message i+1 is, and must hand it
        to the commit. When Redis cannot be read, message i and every later one get None (thread them later)."""
        # Whatever is handed to the commit from here on stays visible until this ends: Redis may not show it yet
        # to the reads below.
        began = self.uncommitted.begin()
        try:
            readings: list[Reading | BaseException]
            if len(messages) == 1:  # the common case: no gather, no extra task
                try:
                    readings = [await self.read(messages[0])]
                except Exception as exc:
                    readings = [exc]
            else:
                readings = list(await asyncio.gather(*(self.read(m) for m in messages), return_exceptions=True))
            failed = False
            for i, (m, reading) in enumerate(zip(messages, readings, strict=True)):
                resolution = None
                if not failed:
                    if isinstance(reading, BaseException):
                        _raise_unless_unavailable(reading)
                        failed = True
                    else:
                        try:
                            resolution = await self.decide(m, reading)
                        except Exception as exc:
                            _raise_unless_unavailable(exc)
                            failed = True
                submit(i, resolution)
        finally:
            self.uncommitted.end(began)

    async def read(self, m: InboundMessage) -> Reading:
        """Read the keys `m`'s evidence names (with other messages' reads). Call between `uncommitted.begin()`
        and its `end()`, as the rest of the resolution."""
        found = candidates(m, self.backend)
        return Reading(found, await self.reads.get([k for _, k in found]) if found else [])

    async def decide(self, m: InboundMessage, reading: Reading) -> Resolution:
        """The conversation `m` belongs to, by what Redis answered and what is still on its way there. Reads
        more only when a conversation's participants or the sender's latest conversation are needed."""
        while True:
            decided = self._decide(m, reading)
            if isinstance(decided, Resolution):
                return decided
            if decided:
                reading.members[decided] = await self.is_participant(decided, m.sender)
            else:
                reading.latest = await self.senders.latest(reading.continuity)

    def _decide(self, m: InboundMessage, reading: Reading) -> Resolution | str:
        """The resolution, or what must be read first: a conversation's participants, or "" for the sender's
        latest conversation."""
        refused: set[tuple[str, bool]] = set()  # a reply's References mostly name one conversation many times
        for (evidence, key), stored in zip(reading.candidates, reading.stored, strict=True):
            # Redis first: where it has a value, the message that wrote it came first (SET NX, or a duplicate).
            conv = stored if stored is not None else self.uncommitted.conversation_at(key)
            if conv is None or (conv, evidence in QUOTED) in refused:
                continue
            if evidence in PARTICIPANTS_ONLY:
                joins = self._may_join(conv, m, evidence, reading)
                if joins is None:
                    return conv
                if not joins:
                    # A token or a quoted Message-ID alone never lets a stranger into another's conversation.
                    refused.add((conv, evidence in QUOTED))
                    continue
            return Resolution(conv, evidence)
        if not continues_by_sender(m):
            return Resolution(m.id, "new")
        if m.thread_hints.force_new:
            return Resolution(m.id, "new_by_keyword")
        # A text still on its way is newer than anything Redis has for this sender.
        reading.continuity = reading.continuity or continuity_key(m)
        latest = self.uncommitted.latest_at(reading.continuity)
        if latest is None:
            if reading.latest is _UNREAD:
                return ""
            latest = reading.latest
        return self._by_latest(m, latest)

    def _by_latest(self, m: InboundMessage, latest: Latest | None) -> Resolution:
        """Evidence 4: the sender's latest conversation on this district number, if still open and recent."""
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

    def _may_join(self, conv: str, m: InboundMessage, evidence: str, reading: Reading) -> bool | None:
        """A participant, or district staff the directory knows (answering a family from their own mail client);
        None when Redis must be asked first.

        Staff may join on a quoted Message-ID only: a reply token is the family's, and a tag in a subject is
        easy to copy."""
        if m.requester.role == "staff" and evidence in QUOTED:
            return True
        if self.uncommitted.is_participant(conv, normalize_address(m.sender)):
            return True
        return reading.members.get(conv)

    async def is_participant(self, conv: str, sender: str) -> bool:
        who = normalize_address(sender)
        if await self.client.sismember(keys.participants(conv), who):
            return True
        first = await self.client.hget(keys.conversation(conv), "sender")
        return normalize_address(text(first or "")) == who


def _raise_unless_unavailable(exc: BaseException) -> None:
    if not unavailable(exc):
        raise exc
