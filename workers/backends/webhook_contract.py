"""The generic `webhook` backend's JSON contract: what we POST, how it is signed, and the events that come back.

Both directions are signed with the shared secret (INTAKE_WEBHOOK_SECRET) the same way:

    X-Intake-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

A receiver checks it over the exact bytes and refuses a `t` more than 300 seconds from its clock; we do
the same for events. Several `v1=` entries may be given (a secret being rotated): any one matching is enough.
The README ("The webhook backend") documents every field for the people who write the receiving side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import BadRequest, Unauthorized
from gateway.models import Attachment, Commitment, StatusEvent, TicketStatus
from workers.backends.mapping import Mapped

SIGNATURE_HEADER = "X-Intake-Signature"
MAX_SKEW_S = 300
EventType = Literal["ticket.create", "ticket.comment", "ticket.link", "ticket.status", "ping"]


def signature(secret: bytes, body: bytes, at: int | None = None) -> str:
    """The X-Intake-Signature value for `body`, signed now (or at `at`, unix seconds)."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise Unauthorized unless `header` signs `body` with `secret`, within MAX_SKEW_S of now. Fails closed."""
    if not secret:
        raise Unauthorized("no secret is configured to check signatures with")
    if not header:
        raise Unauthorized(f"{SIGNATURE_HEADER} is missing")
    stamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:  # int() refuses '²'; bounded
            stamp = int(value)
        elif key == "v1" and value:
            macs.append(value)
    if stamp is None or not macs:
        raise Unauthorized(f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex>")
    if abs((time.time() if now is None else now) - stamp) > MAX_SKEW_S:
        raise Unauthorized(f"{SIGNATURE_HEADER} was made more than {MAX_SKEW_S} s from our clock")
    expected = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, mac.encode()) for mac in macs):
        raise Unauthorized(f"{SIGNATURE_HEADER} does not match the body")


def _files(attachments: tuple[Attachment, ...], read: Callable[[Attachment], bytes | None]) -> list[dict[str, Any]]:
    out = []
    for a in attachments:
        data = read(a) if a.kept else None
        reason = a.reason if not a.kept else (None if data is not None else "too large to send inline")
        out.append({"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256,
                    "kept": data is not None, "reason": reason,
                    "data_base64": base64.b64encode(data).decode() if data is not None else None})  # fmt: skip
    return out


def requester(c: Commitment) -> dict[str, Any]:
    who = c.message.requester
    return {"name": who.display_name, "email": who.email, "phone": who.phone, "role": who.role,
            "school": c.message.campus or who.campus, "language": who.locale,
            "directory_id": who.directory_id}  # fmt: skip


def _route(c: Commitment) -> dict[str, Any]:
    route = c.route
    first, last = route.first_response_due, route.resolution_due
    return {"queue": route.queue, "priority": route.priority.value, "category": route.category,
            "assignee_group": route.assignee_group, "assignee": route.assignee,
            "first_response_due": first.isoformat() if first else None,
            "resolution_due": last.isoformat() if last else None,
            "incident_id": route.incident_id, "rule_ids": list(route.rule_ids)}  # fmt: skip


def create_body(c: Commitment, mapped: Mapped, read: Callable[[Attachment], bytes | None]) -> dict[str, Any]:
    """ticket.create: the canonical request, our route, and the route in the receiver's own names (`map:`)."""
    m, route = c.message, c.route
    return {
        "type": "ticket.create",
        "request_id": m.id,
        "conversation_id": c.conversation,
        "received_at": m.received_at.isoformat(),
        "channel": m.channel,
        "account": m.account,
        "language": m.language,
        "subject": m.subject or m.text[:80],
        "text": m.text,
        "requester": requester(c),
        "queue": mapped.queue,
        "priority": mapped.priority,
        "category": mapped.category,
        "school": mapped.school,
        "custom_fields": mapped.custom_fields,
        "tags": list(route.tags),
        "route": _route(c),
        "attachments": _files(m.attachments, read),
    }


def comment_body(ref: str, c: Commitment, comment_id: str, public: bool,
                 read: Callable[[Attachment], bytes | None]) -> dict[str, Any]:  # fmt: skip
    """ticket.comment: a follow-up from the requester (public), or a note of ours for staff (public: false)."""
    m = c.message
    return {"type": "ticket.comment", "ticket_ref": ref, "request_id": m.id, "comment_id": comment_id,
            "public": public, "received_at": m.received_at.isoformat(), "channel": m.channel,
            "author": requester(c), "text": m.text, "attachments": _files(m.attachments, read)}  # fmt: skip


class EventBody(BaseModel):
    """POST /backends/webhook/events: one change of one ticket, as the receiving side reports it."""

    model_config = ConfigDict(extra="ignore")

    # Optional: issue 14's event body has none. Without it the body's own digest stands in, so a sender that
    # re-signs the same change on each retry is still told once.
    delivery_id: str | None = Field(None, min_length=1, max_length=200)
    ticket_ref: str = Field(min_length=1, max_length=200)
    request_id: str | None = Field(None, max_length=200)
    status: Literal["open", "in_progress", "waiting", "resolved", "closed"]
    comment: str | None = Field(None, max_length=20_000)
    public: bool = False  # a comment is private unless the event says it may reach the family
    actor: str = Field("staff", max_length=200)


def parse_event(raw: bytes) -> StatusEvent:
    """A verified event body as a StatusEvent. Raises BadRequest naming each wrong or missing field."""
    try:
        body = EventBody.model_validate_json(raw)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"not a webhook event: {wrong}") from None
    # An internal note never leaves: only a comment marked public is carried to the family.
    comment = body.comment.strip() if body.comment and body.public else None
    delivery = body.delivery_id or "body-" + hashlib.sha256(raw).hexdigest()[:40]
    return StatusEvent(backend="webhook", ticket_ref=body.ticket_ref, status=TicketStatus(body.status),
                       public_comment=comment or None, actor=body.actor, delivery_id=delivery)  # fmt: skip
