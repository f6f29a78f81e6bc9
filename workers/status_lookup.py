"""The status a ticket system reports now, for a family who asks (STATUS, the status page).

Status changes reach us by webhook or by polling; a change that never came (a webhook the system did not
send, a poll not yet run) would leave the family reading an old status. So when they ask, a worker asks each
ticket's system through the backend's `fetch_status`, within `sync.lookup_timeout_s` for the whole answer.
A system that is down, slow, refusing us or behind an open outage circuit is not waited for: the answer uses
the last status we know, and the family sees no error. A status that differs is recorded on the conversation
as a status event (workers/status_events.py), so the page, the dashboard and later answers agree, and the
poller or webhook that brings the same change later finds nothing new.

STATUS (ESTADO...) on any channel is answered by a job here (`answer_status`, on the replies queue), so the
look-up never holds up a ticket's delivery; the status page queues `refresh_conversation` on the events queue
and waits for it at most `sync.page_wait_s` (gateway/web/status.py).

The call runs on a daemon thread: a system that hangs past the deadline keeps only that thread, until its
client's own timeout ends it, and never the job or the worker's exit.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from gateway import keys
from gateway.intake.conversations import CLOSED_STATUSES
from gateway.models import Commitment, Reply, StatusEvent, TicketStatus, utcnow
from gateway.outbox.consent import phone_digest
from gateway.outbox.templating import render_reply
from gateway.store.queues import SEND_REPLY_FUNC
from gateway.store.redis_conn import text
from workers import context
from workers.backends import looks_up_status
from workers.backends.errors import BackendError
from workers.queues import REPLIES_QUEUE, enqueue_once
from workers.status_events import apply_event

log = logging.getLogger("intake.status_lookup")


@dataclass
class Known:
    """One conversation's ticket as we know it, and what its system says now (when it said it in time)."""

    conversation: str
    backend: str
    ticket: str
    status: str
    fresh: TicketStatus | None = None


@dataclass
class Outcome:
    """What one call tried; logged as counts only (never a ticket, a conversation or an address)."""

    asked: int = 0
    changed: int = 0
    fallbacks: dict[str, str] = field(default_factory=dict)  # backend -> why its last known status was used


def known(r: redis.Redis, conv_ids: Sequence[str]) -> list[Known]:
    with r.pipeline(transaction=False) as pipe:
        for conv_id in conv_ids:
            pipe.hmget(keys.conversation(conv_id), ["backend", "ticket_ref", "status"])
        rows = pipe.execute()
    default = context.settings().backends.default
    return [
        Known(conv_id, text(backend or b"") or default, text(ticket or b""), text(status or b"") or "received")
        for conv_id, (backend, ticket, status) in zip(conv_ids, rows, strict=True)
    ]


def _call(fn: Callable[[], TicketStatus], wait_s: float) -> TicketStatus | BaseException | None:
    """fn's answer, its error, or None when it did not answer within wait_s (it goes on alone, on a daemon thread)."""
    box: list[TicketStatus | BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the caller, who falls back
            box.append(exc)

    worker = threading.Thread(target=run, name="status-lookup", daemon=True)
    worker.start()
    worker.join(max(0.0, wait_s))
    return box[0] if box else None


def _fetch(name: str, ref: str) -> TicketStatus:
    return context.backend(name).fetch_status(ref)  # built here too: a system down may fail its client's set-up


def _open_circuit(name: str) -> bool:
    state = context.circuit(name).state()
    return not state.ok and state.until > time.time()


def look_up(r: redis.Redis, conv_ids: Sequence[str], *, tell: Callable[[Known], bool]) -> list[Known]:
    """Each conversation's ticket as its system reports it now, within the deadline; a change is recorded.

    `tell(item)` decides whether a change is also told to the family as a status reply (the page: yes; a
    STATUS answer that already lists the request: no, it says so itself)."""
    timeout = context.settings().sync.lookup_timeout_s
    deadline = time.monotonic() + timeout
    items = known(r, conv_ids)
    out = Outcome()
    for item in items:
        if not item.ticket or not looks_up_status(item.backend):
            continue
        if item.backend in out.fallbacks:
            continue  # slow or down a moment ago: the rest of its tickets keep their last known status
        if _open_circuit(item.backend):
            out.fallbacks[item.backend] = "circuit_open"
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            out.fallbacks[item.backend] = "no_time_left"
            continue
        answer = _call(functools.partial(_fetch, item.backend, item.ticket), left)
        out.asked += 1
        if answer is None:
            out.fallbacks[item.backend] = "timeout"
        elif isinstance(answer, BackendError):
            out.fallbacks[item.backend] = type(answer).__name__
        elif isinstance(answer, BaseException):
            out.fallbacks[item.backend] = f"error:{type(answer).__name__}"
        else:
            item.fresh = answer
            if answer.value != item.status:
                _record(r, item, answer, tell(item))
                out.changed += 1
    if out.asked or out.fallbacks:
        log.info("ticket statuses looked up", extra={"asked": out.asked, "changed": out.changed,
                                                     "fallbacks": out.fallbacks})  # fmt: skip
    return items


def _record(r: redis.Redis, item: Known, status: TicketStatus, tell: bool) -> None:
    ev = StatusEvent(backend=item.backend, ticket_ref=item.ticket, status=status, actor="lookup", at=utcnow())
    apply_event(r, item.conversation, ev, tell=tell)
    item.status = status.value


def mark_checked(r: redis.Redis, items: Sequence[Known]) -> None:
    """When each conversation's status was last asked for (answered or not): the page waits for it, then not again."""
    now = f"{time.time():.3f}"
    with r.pipeline(transaction=False) as pipe:
        for item in items:
            pipe.hset(keys.conversation(item.conversation), "status_checked_at", now)
        pipe.execute()


def refresh_conversation(conv_id: str) -> str:
    """The status page's look-up: one conversation, a change told to the family as any status change is."""
    r = context.connection()
    items = look_up(r, [conv_id], tell=lambda item: True)
    mark_checked(r, items)
    return items[0].status if items else ""


# The newest conversations a sender is answered about (the report itself says "and N more" past a few).
SENDER_CONVERSATIONS = 21


def _closing(item: Known) -> bool:
    # A request that closed since we last heard is no longer listed as open: the family hears it closed the way
    # every resolution is told (with its survey), not by its silent absence from the list.
    return item.fresh is not None and item.fresh.value in CLOSED_STATUSES


def answer_status(c: Commitment) -> dict[str, int]:
    m = c.message
    r, settings = context.connection(), context.settings()
    digest = phone_digest(m.sender)
    convs = [text(x) for x in r.zrevrange(keys.sms_sender_conversations(digest), 0, SENDER_CONVERSATIONS - 1)]
    items = look_up(r, convs, tell=_closing)
    open_requests = [{"ticket": i.ticket, "status": i.status} for i in items
                     if i.ticket and i.status not in CLOSED_STATUSES]  # fmt: skip
    rendered = render_reply(context.templates(), "status_report", m.channel, m.language, settings.default_language,
                            {"requests": open_requests})  # fmt: skip
    reply = Reply(conversation=c.conversation, channel=m.channel, recipient=m.sender, event="status_report",
                  language=rendered.language, text=rendered.text)  # fmt: skip
    enqueue_once(REPLIES_QUEUE, SEND_REPLY_FUNC, reply.model_dump(mode="json"), f"reply-status-{m.id}-{m.channel}",
                 "status_report reply")  # fmt: skip
    return {"open": len(open_requests)}
