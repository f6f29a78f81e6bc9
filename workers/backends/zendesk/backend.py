"""The Zendesk backend: tickets made and commented through the Support API, status back by Zendesk's webhook.

- **Create.** The requester by email (Zendesk finds or makes the end user), else the end user made or found by
  an external id naming how they reached us (`intake:tel:+1555...`), with their phone. Group (by name), priority,
  tags, `external_id` = our request id, the files as upload tokens, and `Idempotency-Key` = our request id.
- **Never twice.** Zendesk makes one ticket per Idempotency-Key for two hours. A retry after a create call that
  went out first asks for the ticket by its external id (a request held longer than that still finds it), and a
  key Zendesk refuses because the body differs (new upload tokens) is answered the same way. Every comment the
  gateway adds carries our mark and is looked for before it is added again.
- **Back** by Zendesk's webhook, subscribed to ticket events (events.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel

from gateway.models import Commitment, InboundMessage, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings
from workers.backends import wording
from workers.backends.base import StatusSource
from workers.backends.errors import BackendAuthFailed, BackendError, BackendRefused
from workers.backends.hosted import HostedBackend, identity_of
from workers.backends.http import raise_for_status
from workers.backends.pacing import PacingTimeout
from workers.backends.zendesk import events
from workers.backends.zendesk.client import IDEMPOTENCY_MISMATCH, NAME, Zendesk, api, describe
from workers.backends.zendesk.settings import ZendeskSettings

log = logging.getLogger("intake.backends.zendesk")

# Ours -> Zendesk's, for a status the gateway sets (an incident's update). Only Zendesk closes a ticket.
TO_ZENDESK = {
    TicketStatus.NEW: "open",
    TicketStatus.OPEN: "open",
    TicketStatus.IN_PROGRESS: "open",
    TicketStatus.WAITING: "pending",
    TicketStatus.RESOLVED: "solved",
    TicketStatus.CLOSED: "solved",
}


def _settings(settings: Settings) -> ZendeskSettings:
    return ZendeskSettings.model_validate(settings.backends.section(NAME) or {})


class ZendeskBackend(HostedBackend):
    name = NAME
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"webhook"})
    settings_model: ClassVar[type[BaseModel] | None] = ZendeskSettings
    switch_on = "set ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_TOKEN"

    def __init__(self, conf: ZendeskSettings, settings: Settings) -> None:
        super().__init__(settings)
        self.conf = conf
        self.secret = conf.webhook_secret.get_secret_value().encode()
        self._groups: dict[str, int] | None = None

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        try:
            return _settings(settings).enabled()
        except ValueError:
            return False

    @classmethod
    def from_settings(cls, settings: Settings) -> ZendeskBackend:
        return cls(_settings(settings), settings)

    @cached_property
    def zendesk(self) -> Zendesk:
        conf = self.conf
        client = api(conf.url, conf.email, conf.token.get_secret_value(), conf.timeout_s, conf.ca_file)
        client.pace = self.pacer(conf.per_minute).take
        return Zendesk(client)

    def group_id(self, name: str) -> int:
        if self._groups is None or name not in self._groups:
            self._groups = {g.name: g.id for g in self.zendesk.groups()}
        if name not in self._groups:
            known = ", ".join(sorted(self._groups)) or "none"
            raise BackendRefused(NAME, f"no group {name!r} in Zendesk (known: {known}): fix backends.zendesk.group "
                                       "or map.queue")  # fmt: skip
        return self._groups[name]

    # -- tickets ------------------------------------------------------------------------------------------

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        if self.attempts.last(idempotency_key) is not None:
            made = self._made(idempotency_key)
            if made is not None:
                log.info("zendesk ticket found for a retried request", extra={"request_id": idempotency_key,
                                                                             "ticket": made})  # fmt: skip
                return made
        m, route = commitment.message, commitment.route
        mapped = self.conf.map.mapped(route, m)
        files, refused = self.files(m)
        ticket: dict[str, Any] = {
            "subject": wording.subject(m), "external_id": idempotency_key,
            "comment": {"body": wording.description(commitment, refused), "public": True,
                        "uploads": [self.zendesk.upload(f) for f in files]},
            "tags": list(dict.fromkeys(("intake", *route.tags))),
            "custom_fields": [{"id": int(theirs), "value": value} for theirs, value in mapped.custom_fields.items()],
            **self._requester(m),
        }  # fmt: skip
        if str(mapped.priority):
            ticket["priority"] = str(mapped.priority)
        group = self.conf.map.queue.get(route.queue) or self.conf.map.default_queue or self.conf.group
        if group:
            ticket["group_id"] = self.group_id(group)
        self.attempts.note(idempotency_key)
        answer = self.zendesk.create(ticket, idempotency_key)
        if answer.status == 400:
            error = answer.json()
            if isinstance(error, dict) and error.get("error") == IDEMPOTENCY_MISMATCH:
                made = self._made(idempotency_key)  # our key, another body: the first try made it
                if made is not None:
                    return made
            raise_for_status(NAME, "ticket.create", answer, describe)
        return str(self.zendesk.created(answer).id)

    def _made(self, key: str) -> str | None:
        found = sorted(t.id for t in self.zendesk.by_external_id(key) if t.external_id == key)
        return str(found[0]) if found else None

    def _requester(self, m: InboundMessage) -> dict[str, Any]:
        email, phone, handle = identity_of(m)
        name = m.requester.display_name.strip()
        if email:
            return {"requester": {"name": name or email, "email": email}}
        identity = f"tel:{phone}" if phone else handle
        known = self.known_contact(identity)
        if known is None:
            known = str(self.zendesk.end_user(name or phone or m.sender, f"intake:{identity}", phone))
            self.remember_contact(identity, known)
        return {"requester_id": int(known)}

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        for comment in self.zendesk.comments(ref):
            if wording.has_mark(comment.body, idempotency_key):
                return str(comment.id)
        files, refused = self.files(commitment.message)
        uploads = [self.zendesk.upload(f) for f in files]
        text = wording.follow_up(commitment, idempotency_key, refused)
        comment_body: dict[str, Any] = {"body": text, "public": public, "uploads": uploads}
        if public:  # the family's own words, written as theirs
            comment_body["author_id"] = self.zendesk.ticket(ref).requester_id
        self.zendesk.update(ref, {"comment": comment_body}, "ticket.comment")
        return f"{ref}:{idempotency_key}"

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        # Zendesk's own relation: the parent a problem, each request an incident of it.
        if self.zendesk.ticket(parent_ref).type != "problem":
            self.zendesk.update(parent_ref, {"type": "problem"}, "ticket.link")
        self.zendesk.update(child_ref, {"type": "incident", "problem_id": int(parent_ref)}, "ticket.link")

    def fetch_status(self, ref: str) -> TicketStatus:
        return self.conf.statuses.get(self.zendesk.ticket(ref).status.lower(), TicketStatus.OPEN)

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        change: dict[str, Any] = {"status": TO_ZENDESK[status]}
        if comment:
            if any(wording.has_mark(c.body, idempotency_key) for c in self.zendesk.comments(ref)):
                return
            change["comment"] = {"body": wording.status_comment(comment, idempotency_key), "public": True}
        self.zendesk.update(ref, change)

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        return None  # Zendesk's SLA policies keep its own targets; ours stay in Redis

    # -- status back, checks -----------------------------------------------------------------------------

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        events.verify(self.secret, req.header(events.SIGNATURE), req.header(events.TIMESTAMP), req.raw_body,
                      self.conf.max_skew_s)  # fmt: skip
        return events.events(req.raw_body, self.conf.statuses)

    def check(self) -> list[str]:
        where = f"backends.{NAME}"
        try:
            me = self.zendesk.me()
        except BackendAuthFailed as exc:
            return [f"{where}.email, token (ZENDESK_EMAIL, ZENDESK_TOKEN): Zendesk refused them: {exc.message}"]
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}.url (ZENDESK_URL): cannot reach Zendesk at {self.conf.url}: {_said(exc)}"]
        try:
            return self._problems(where, me)
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}: {_said(exc)}"]

    def _problems(self, where: str, me: dict[str, Any]) -> list[str]:
        found: list[str] = []
        if me.get("role") not in ("agent", "admin"):
            found.append(f"{where}.email (ZENDESK_EMAIL): {me.get('role') or 'an anonymous user'} is not an agent: "
                         "the gateway must work as an agent")  # fmt: skip
        groups = {g.name for g in self.zendesk.groups()}
        wanted = {self.conf.group: f"{where}.group", self.conf.map.default_queue: f"{where}.map.default_queue"}
        wanted.update({g: f"{where}.map.queue.{ours}" for ours, g in self.conf.map.queue.items()})
        for group, key in wanted.items():
            if group and group not in groups:
                found.append(f"{key}: Zendesk has no group {group!r} (known: {', '.join(sorted(groups)) or 'none'})")
        if self.conf.map.custom_fields:
            ids = {str(f.id) for f in self.zendesk.ticket_fields()}
            for ours, theirs in self.conf.map.custom_fields.items():
                if theirs not in ids:
                    found.append(f"{where}.map.custom_fields.{ours}: Zendesk has no ticket field {theirs}")
        if not self.secret:
            found.append(f"{where}.webhook_secret (ZENDESK_WEBHOOK_SECRET): not set, so Zendesk's webhooks are "
                         "refused and no status or answer reaches the family")  # fmt: skip
        return found


def _said(exc: BackendError | PacingTimeout) -> str:
    return exc.message if isinstance(exc, BackendError) else str(exc)
