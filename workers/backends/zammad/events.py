"""Zammad's webhook: a trigger's POST to /backends/zammad/events, verified and read into status events.

Zammad signs the body with the webhook's "HMAC SHA1 Signature Token": `X-Hub-Signature: sha1=<hex HMAC-SHA1>`
(the WebSub form). `X-Zammad-Delivery` names the delivery; Zammad sends a failed one again, up to four more
times, under the same id, so it is the event's delivery id and a redelivery tells the family nothing new.
The default payload carries the ticket and the article that fired the trigger (if any): its state becomes
our status, and an article written by an agent, public, becomes the answer quoted to the family. Internal
articles never leave; nor does an article the gateway wrote itself (it carries our mark).
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.errors import BadRequest, Unauthorized
from gateway.models import StatusEvent, TicketStatus
from normalizers.email_html import html_to_text
from workers.backends.wording import marked

SIGNATURE = "X-Hub-Signature"
DELIVERY = "X-Zammad-Delivery"


def verify(secret: bytes, header: str | None, body: bytes) -> None:
    """Raise Unauthorized unless `header` is the HMAC-SHA1 of `body` with `secret`. Fails closed."""
    if not secret:
        raise Unauthorized("no webhook secret is configured (backends.zammad.webhook_secret)")
    if not header:
        raise Unauthorized(f"{SIGNATURE} is missing")
    algorithm, _, value = header.strip().partition("=")
    if algorithm.lower() != "sha1" or not value:
        raise Unauthorized(f"{SIGNATURE} must read sha1=<hex>")
    expected = hmac.new(secret, body, hashlib.sha1).hexdigest().encode()
    if not hmac.compare_digest(expected, value.strip().lower().encode()):
        raise Unauthorized(f"{SIGNATURE} does not match the body")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Person(_Loose):
    firstname: str = ""
    lastname: str = ""


class _Ticket(_Loose):
    id: int
    state: str = ""


class _Article(_Loose):
    id: int | None = None
    body: str = ""
    content_type: str = "text/plain"
    internal: bool = False
    sender: str = ""
    created_by: _Person | str | None = None


class _Payload(_Loose):
    ticket: _Ticket
    article: _Article | None = None


def _text(article: _Article) -> str:
    if "html" in article.content_type.lower():
        return html_to_text(article.body).new.strip()
    return article.body.strip()


def _actor(article: _Article | None) -> str:
    who = article.created_by if article is not None else None
    if isinstance(who, _Person):
        return f"{who.firstname} {who.lastname}".strip() or "staff"
    return "staff"


def events(raw: bytes, delivery: str | None, states: dict[str, TicketStatus]) -> list[StatusEvent]:
    """The verified body as one status event (the ticket's state, and an agent's public article)."""
    if not delivery:
        raise BadRequest(f"{DELIVERY} is missing: not a Zammad webhook")
    try:
        payload = _Payload.model_validate_json(raw)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"not a Zammad ticket webhook: {wrong}") from None
    state = payload.ticket.state.strip().lower()
    if not state:
        raise BadRequest("not a Zammad ticket webhook: ticket.state: missing")
    article = payload.article
    comment: str | None = None
    if article is not None and not article.internal and article.sender.lower() == "agent":
        said = _text(article)
        comment = None if marked(said) else said or None
    status = states.get(state, TicketStatus.OPEN)
    return [StatusEvent(backend="zammad", ticket_ref=str(payload.ticket.id), status=status, public_comment=comment,
                        actor=_actor(article), delivery_id=delivery)]  # fmt: skip
