"""Freshdesk's automation webhook: POST /backends/freshdesk/events, checked by the district's secret header.

Freshdesk signs nothing. The district's automation rules ("Trigger webhook") add a header of their choosing
(`webhook_header`, `X-Intake-Token` by default) carrying a secret only Freshdesk and the gateway know; a request
without it is refused (401) and changes nothing. The body is Freshdesk's JSON encoding of the placeholders the
rule picks, under `freshdesk_webhook`:

    {"freshdesk_webhook": {"ticket_id": "{{ticket.id}}", "ticket_status": "{{ticket.status}}",
                           "ticket_latest_public_comment": "{{ticket.latest_public_comment}}"}}

The rule for agents' replies sends the comment; the rule for status changes leaves it out, so an old answer is
never told again with a resolution. Freshdesk gives no delivery id: a change is identified by what it says
(ticket, status, comment), so a repeated POST of the same change tells the family nothing new.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.errors import BadRequest, Unauthorized
from gateway.models import StatusEvent, TicketStatus
from normalizers.email_html import html_to_text
from workers.backends.wording import marked

# Freshdesk's own status codes, for a rule whose body carries the number rather than the name.
CODES = {"2": "open", "3": "pending", "4": "resolved", "5": "closed"}


def verify(header_name: str, secret: bytes, given: str | None) -> None:
    if not secret:
        raise Unauthorized("no webhook secret is configured (backends.freshdesk.webhook_secret)")
    if not given:
        raise Unauthorized(f"{header_name} is missing")
    if not hmac.compare_digest(given.strip().encode(), secret):
        raise Unauthorized(f"{header_name} is not the configured secret")


class _Change(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket_id: str
    ticket_status: str
    ticket_latest_public_comment: str | None = None
    ticket_agent_name: str | None = None

    @field_validator("ticket_id", "ticket_status", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    freshdesk_webhook: _Change


def _comment(raw: str | None) -> str | None:
    said = (raw or "").strip()
    if "<" in said and ">" in said:
        said = html_to_text(said).new.strip()
    return None if not said or marked(said) else said  # marked: the family's own follow-up, or our note


def events(raw: bytes, statuses: dict[str, TicketStatus]) -> list[StatusEvent]:
    try:
        change = _Body.model_validate_json(raw).freshdesk_webhook
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"not a Freshdesk webhook: {wrong}") from None
    ticket = change.ticket_id.strip()
    if not ticket.isdigit():
        raise BadRequest("not a Freshdesk webhook: freshdesk_webhook.ticket_id: expected the ticket's number")
    name = change.ticket_status.strip().lower()
    name = CODES.get(name, name)
    comment = _comment(change.ticket_latest_public_comment)
    identity = "\x1f".join((ticket, name, comment or ""))
    delivery = "fd-" + hashlib.sha256(identity.encode()).hexdigest()[:32]
    return [StatusEvent(backend="freshdesk", ticket_ref=ticket, status=statuses.get(name, TicketStatus.OPEN),
                        public_comment=comment, actor=(change.ticket_agent_name or "").strip() or "staff",
                        delivery_id=delivery)]  # fmt: skip
