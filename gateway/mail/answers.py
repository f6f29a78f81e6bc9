"""Mail from a help desk fed by mail (the `email` backend): its answers on a relay address become status events.

The forwarded request's Reply-To is a relay address, `help+<token>@` on a gateway mailbox, standing for a
family the help desk cannot mail. The poller hands every mail it would commit here first. Mail from a help
desk's own addresses never becomes a request (that would send it back to the help desk: a loop): on a relay
address of a request that help desk has, it is read by the backend into status events, queued for the events
worker before the mail is moved; anything else from it is dropped and counted. Mail from anyone else, to a
relay address or not, goes on as any mail does: a reply token never lets a stranger speak for the help desk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.errors import Unavailable
from gateway.models import InboundMessage, StatusEvent, TicketStatus
from gateway.settings import Settings
from gateway.store.queues import publish_status_events
from gateway.store.redis_conn import text

log = logging.getLogger("intake.mail")

RELAYED = "help_desk_answer"


class AnswersByMail(Protocol):
    """A ticket system whose help desk answers by mail (workers.backends.base.TicketBackend, "mail" status)."""

    def from_help_desk(self, sender: str) -> bool: ...

    def mail_events(self, message: InboundMessage, ticket_ref: str, status: TicketStatus) -> list[StatusEvent]: ...


class HelpDeskMail:
    def __init__(
        self, systems: Mapping[str, AnswersByMail], redis_async: aioredis.Redis, redis_sync: redis.Redis,
        settings: Settings,
    ) -> None:  # fmt: skip
        self.systems = systems
        self.redis = redis_async
        self.sync = redis_sync
        self.settings = settings

    async def take(self, m: InboundMessage) -> str | None:
        """None when `m` is not a help desk's mail (the pipeline takes it); else what became of it, for the
        metrics: relayed (`help_desk_answer`), or dropped and why. Raises Unavailable while Redis is away, so
        the mail stays in the inbox for the next pass."""
        name = next((n for n, system in self.systems.items() if system.from_help_desk(m.sender)), None)
        if name is None:
            return None
        if m.flags.unverified_sender:
            return "help_desk_unverified"  # our border host says its domain failed DMARC: a forgery
        try:
            return await self._relay(name, m)
        except redis.RedisError as exc:
            raise Unavailable("Redis is unavailable: a help desk's answer waits in the mailbox") from exc

    async def _relay(self, name: str, m: InboundMessage) -> str:
        token = m.thread_hints.reply_token
        conv = await self.redis.get(keys.reply_token(token)) if token else None
        if conv is None:
            return "help_desk_not_on_a_relay"
        found = await self.redis.hmget(keys.conversation(text(conv)), ["backend", "ticket_ref", "status"])
        backend, ref, status = (text(v or "") for v in found)
        if backend != name or not ref:
            return "help_desk_not_on_a_relay"  # a relay address of a request this help desk does not have
        try:
            now = TicketStatus(status or TicketStatus.OPEN.value)
        except ValueError:
            now = TicketStatus.OPEN
        events = self.systems[name].mail_events(m, ref, now)
        if not events:
            return "help_desk_nothing_new"
        await asyncio.get_running_loop().run_in_executor(None, publish_status_events, self.sync, self.settings, events)
        log.info("help desk answer relayed", extra={"backend": name, "events": len(events)})
        return RELAYED
