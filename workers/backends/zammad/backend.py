"""The Zammad backend: tickets made and added to through Zammad's REST API, status back by Zammad's webhook.

- **Create.** The customer is found or made by Zammad itself from an email (`guess:<email>`); someone known
  only by phone (or by a channel's own id) is searched for, else made, once (remembered in Redis). The ticket
  carries the group, priority, tags, our request id in the ticket attribute `request_field`, and a first
  article from the customer with the files (base64).
- **Never twice.** Before creating, a search for our id; a retry after a create call that went out also reads
  Zammad's own list of the newest tickets (its search trails its writes). Every article the gateway adds
  carries our mark and is looked for before it is added again.
- **Back** by Zammad's webhook (events.py).
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel

from gateway.models import Commitment, InboundMessage, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings
from workers.backends import wording
from workers.backends.base import StatusSource
from workers.backends.errors import BackendAuthFailed, BackendError
from workers.backends.hosted import HostedBackend, identity_of
from workers.backends.pacing import PacingTimeout
from workers.backends.zammad import events
from workers.backends.zammad.client import NAME, Ticket, Zammad, api
from workers.backends.zammad.settings import ZammadSettings

log = logging.getLogger("intake.backends.zammad")

# Ours -> the state Zammad is set to when the gateway changes a status (an incident's update). Zammad's pending
# states need a time, which an incident does not have: waiting stays open there.
TO_ZAMMAD = {TicketStatus.NEW: "new", TicketStatus.OPEN: "open", TicketStatus.IN_PROGRESS: "open",
             TicketStatus.WAITING: "open", TicketStatus.RESOLVED: "closed", TicketStatus.CLOSED: "closed"}  # fmt: skip
RECENT_PAGES = 5  # of 100: how far a retry reads back through the newest tickets


def _settings(settings: Settings) -> ZammadSettings:
    return ZammadSettings.model_validate(settings.backends.section(NAME) or {})


class ZammadBackend(HostedBackend):
    name = NAME
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"webhook"})
    settings_model: ClassVar[type[BaseModel] | None] = ZammadSettings
    switch_on = "set ZAMMAD_URL, ZAMMAD_TOKEN and ZAMMAD_GROUP"

    def __init__(self, conf: ZammadSettings, settings: Settings) -> None:
        super().__init__(settings)
        self.conf = conf
        self.secret = conf.webhook_secret.get_secret_value().encode()

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        try:
            return _settings(settings).enabled()
        except ValueError:
            return False

    @classmethod
    def from_settings(cls, settings: Settings) -> ZammadBackend:
        return cls(_settings(settings), settings)

    @cached_property
    def zammad(self) -> Zammad:
        conf = self.conf
        client = api(conf.url, conf.token.get_secret_value(), conf.timeout_s, conf.ca_file)
        client.pace = self.pacer(conf.per_minute).take
        return Zammad(client)

    # -- tickets ------------------------------------------------------------------------------------------

    def group_for(self, c: Commitment) -> str:
        fmap = self.conf.map
        return fmap.queue.get(c.route.queue) or fmap.default_queue or self.conf.group

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        found = self.find(idempotency_key)
        if found is not None:
            log.info("zammad ticket found for a retried request", extra={"request_id": idempotency_key,
                                                                        "ticket": found})  # fmt: skip
            return found
        m, route = commitment.message, commitment.route
        mapped = self.conf.map.mapped(route, m)
        files, refused = self.files(m)
        article: dict[str, Any] = {
            "subject": wording.subject(m), "body": wording.description(commitment, refused), "type": "note",
            "internal": False, "content_type": "text/plain", "sender": "Customer",
            "attachments": [{"filename": f.filename, "data": base64.b64encode(f.data).decode(),
                             "mime-type": f.content_type} for f in files],
        }  # fmt: skip
        body: dict[str, Any] = {
            "title": wording.subject(m), "group": self.group_for(commitment), "customer_id": self._customer(m),
            "tags": ",".join(dict.fromkeys(("intake", *route.tags))), "article": article,
            **mapped.custom_fields, self.conf.request_field: idempotency_key,
        }  # fmt: skip
        if str(mapped.priority):
            body["priority"] = str(mapped.priority)
        self.attempts.note(idempotency_key)
        return str(self.zammad.create(body).id)

    def find(self, key: str) -> str | None:
        """The ticket already made for this request id: by Zammad's search, and after a create call that went out,
        in its list of the newest tickets too (the search index may not have it yet)."""
        field = self.conf.request_field
        for ticket in self.zammad.search(f'{field}:"{key}"'):
            if ticket.attribute(field) == key:  # checked, not trusted: a search matches words, not values
                return str(ticket.id)
        since = self.attempts.last(key)
        if since is None:
            return None
        for page in range(1, RECENT_PAGES + 1):
            tickets = self.zammad.newest(page)
            for ticket in tickets:
                if ticket.attribute(field) == key:
                    return str(ticket.id)
            if len(tickets) < 100 or any(_created(t) < since for t in tickets):
                break
        return None

    def _customer(self, m: InboundMessage) -> str | int:
        """Zammad's customer for the requester: by email Zammad finds or makes them itself; otherwise ours."""
        email, phone, handle = identity_of(m)
        if email:
            return f"guess:{email}"
        identity = f"tel:{phone}" if phone else handle
        known = self.known_contact(identity)
        if known is not None:
            return int(known)
        user_id: int | None = None
        if phone:
            digits = phone.lstrip("+")
            for user in self.zammad.find_users(digits):
                if phone in (user.phone, user.mobile):
                    user_id = user.id
                    break
        if user_id is None:
            name = m.requester.display_name.strip() or phone or m.sender
            first, _, last = name.partition(" ")
            note = f"Made by the intake gateway for someone who reached us by {wording.how(m)}"
            body: dict[str, Any] = {"firstname": first, "lastname": last, "note": note}
            if phone:
                body["mobile"] = phone
            user_id = self.zammad.create_user(body).id
        self.remember_contact(identity, str(user_id))
        return user_id

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        for article in self.zammad.articles(ref):
            if wording.has_mark(article.body, idempotency_key):
                return str(article.id)
        files, refused = self.files(commitment.message)
        body: dict[str, Any] = {
            "ticket_id": int(ref), "subject": wording.subject(commitment.message),
            "body": wording.follow_up(commitment, idempotency_key, refused), "content_type": "text/plain",
            "type": "note", "internal": not public, "sender": "Customer" if public else "Agent",
            "attachments": [{"filename": f.filename, "data": base64.b64encode(f.data).decode(),
                             "mime-type": f.content_type} for f in files],
        }  # fmt: skip
        if public:
            body["origin_by_id"] = self.zammad.ticket(ref).customer_id  # the family's own words, shown as theirs
        return str(self.zammad.add_article(body).id)

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        if any(link.link_object_value == int(parent_ref) for link in self.zammad.links(child_ref)):
            return
        self.zammad.link(self.zammad.ticket(child_ref).number, parent_ref)

    def fetch_status(self, ref: str) -> TicketStatus:
        state = (self.zammad.ticket(ref).state or "").lower()
        return self.conf.states.get(state, TicketStatus.OPEN)

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        body: dict[str, Any] = {"state": TO_ZAMMAD[status]}
        if comment:
            if any(wording.has_mark(a.body, idempotency_key) for a in self.zammad.articles(ref)):
                return
            body["article"] = {"body": wording.status_comment(comment, idempotency_key), "type": "note",
                               "internal": False, "content_type": "text/plain"}  # fmt: skip
        self.zammad.update(ref, body)

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        return None  # Zammad runs its own SLAs; ours stay in Redis

    # -- status back, checks -----------------------------------------------------------------------------

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        events.verify(self.secret, req.header(events.SIGNATURE), req.raw_body)
        return events.events(req.raw_body, req.header(events.DELIVERY), self.conf.states)

    def check(self) -> list[str]:
        where = f"backends.{NAME}"
        try:
            self.zammad.me()
        except BackendAuthFailed as exc:
            return [f"{where}.token (ZAMMAD_TOKEN): Zammad refused it: {exc.message}"]
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}.url (ZAMMAD_URL): cannot reach Zammad at {self.conf.url}: {_said(exc)}"]
        try:
            return self._problems(where)
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}: {_said(exc)}"]

    def _problems(self, where: str) -> list[str]:
        found: list[str] = []
        groups = {g.name for g in self.zammad.groups() if g.active}
        wanted = {self.conf.map.default_queue: f"{where}.map.default_queue"}
        wanted[self.conf.group] = f"{where}.group (ZAMMAD_GROUP)"
        wanted.update({g: f"{where}.map.queue.{ours}" for ours, g in self.conf.map.queue.items()})
        for group, key in wanted.items():
            if group and group not in groups:
                found.append(f"{key}: Zammad has no active group {group!r} the token's user may file into "
                             f"(known: {', '.join(sorted(groups)) or 'none'})")  # fmt: skip
        priorities = {p.name for p in self.zammad.priorities()}
        for ours, theirs in self.conf.map.priority.items():
            if str(theirs) not in priorities:
                found.append(f"{where}.map.priority.{ours}: Zammad has no priority {str(theirs)!r} "
                             f"(known: {', '.join(sorted(priorities))})")  # fmt: skip
        if not self.secret:
            found.append(f"{where}.webhook_secret (ZAMMAD_WEBHOOK_SECRET): not set, so Zammad's webhooks are refused "
                         "and no status or answer reaches the family: give the webhook an HMAC SHA1 Signature Token "
                         "and set it here")  # fmt: skip
        return found


def _said(exc: BackendError | PacingTimeout) -> str:
    return exc.message if isinstance(exc, BackendError) else str(exc)


def _created(ticket: Ticket) -> datetime:
    try:
        return datetime.fromisoformat(ticket.created_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # unreadable: not older than the attempt, so read on
