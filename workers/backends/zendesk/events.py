"""Zendesk's webhook: ticket events at POST /backends/zendesk/events, verified and read into status events.

Zendesk signs each request: `X-Zendesk-Webhook-Signature` is the base64 HMAC-SHA256, with the webhook's signing
secret, of the `X-Zendesk-Webhook-Signature-Timestamp` value followed directly by the raw body. A timestamp
further than `max_skew_s` from our clock is refused (a captured request replayed later), as is any mismatch.

The webhook subscribes to two ticket event types, whose payloads share one schema (`id`, `type`, `detail` with
the ticket, `event` with the change). `id` is the event's own id, the same on every retry: the delivery id.
- `zen:event-type:ticket.status_changed`: `event.current` is the new status;
- `zen:event-type:ticket.comment_added`: `event.comment` with `is_public` and `author.is_staff`: a public comment
  by staff is the answer quoted to the family. Private comments never leave, nor does a comment the family wrote,
  nor one the gateway wrote itself (it carries our mark).
Other event types are answered 200 and change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.errors import BadRequest, Unauthorized
from gateway.models import StatusEvent, TicketStatus
from normalizers.email_html import html_to_text
from workers.backends.wording import marked

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"


def verify(secret: bytes, signature: str | None, stamp: str | None, body: bytes, max_skew_s: int,
           now: float | None = None) -> None:  # fmt: skip
    """Raise Unauthorized unless the signature is Zendesk's over `stamp + body`, made close to now. Fails closed."""
    if not secret:
        raise Unauthorized("no webhook signing secret is configured (backends.zendesk.webhook_secret)")
    if not signature or not stamp:
        raise Unauthorized(f"{SIGNATURE} or {TIMESTAMP} is missing")
    try:
        at = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Unauthorized(f"{TIMESTAMP} is not a time") from None
    if at.tzinfo is None or abs((time.time() if now is None else now) - at.timestamp()) > max_skew_s:
        raise Unauthorized(f"{TIMESTAMP} is more than {max_skew_s} s from our clock")
    expected = base64.b64encode(hmac.new(secret, stamp.encode() + body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.strip().encode()):
        raise Unauthorized(f"{SIGNATURE} does not match the body")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Author(_Loose):
    is_staff: bool = False
    name: str = ""


class _Comment(_Loose):
    body: str = ""
    is_public: bool = False
    author: _Author = _Author()


class _Change(_Loose):
    current: str | dict[str, object] | None = None
    comment: _Comment | None = None


class _Ticket(_Loose):
    id: str | int
    status: str = ""


class _Event(_Loose):
    id: str
    type: str
    detail: _Ticket
    event: _Change = _Change()


def events(raw: bytes, statuses: dict[str, TicketStatus]) -> list[StatusEvent]:
    try:
        ev = _Event.model_validate_json(raw)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"not a Zendesk ticket event: {wrong}") from None
    if ev.type not in (STATUS_CHANGED, COMMENT_ADDED):
        return []
    current = ev.event.current if isinstance(ev.event.current, str) else ev.detail.status
    status = statuses.get((current or "").strip().lower(), TicketStatus.OPEN)
    comment: str | None = None
    actor = "staff"
    said = ev.event.comment
    if ev.type == COMMENT_ADDED:
        if said is None or not said.is_public or not said.author.is_staff:
            return []  # a private note, or the family's own words: nothing to tell them
        text = html_to_text(said.body).new.strip() if "<" in said.body else said.body.strip()
        if not text or marked(text):
            return []
        comment, actor = text, said.author.name.strip() or "staff"
    return [StatusEvent(backend="zendesk", ticket_ref=str(ev.detail.id), status=status, public_comment=comment,
                        actor=actor, delivery_id=ev.id)]  # fmt: skip
