"""The Freshdesk backend: tickets made and noted through Freshdesk's API v2, status back by its automation webhook.

- **Create.** The requester by email, else by phone with their name (Freshdesk makes the contact when it has
  none), else by a unique external id naming the channel and their id there. Group (by name), priority, source,
  tags, our request id in a custom field, the files as multipart uploads.
- **Never twice.** Before creating, the filter API searches our id; its index trails writes by minutes, so a
  retry after a create call that went out also reads the tickets changed since (Freshdesk's own list). Every
  note carries our mark and is looked for before it is added again.
- **Pacing** within the account's allowance, shared by every worker (client.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel

from gateway.models import Commitment, InboundMessage, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings
from workers.backends import wording
from workers.backends.api import File, multipart
from workers.backends.base import StatusSource
from workers.backends.errors import BackendAuthFailed, BackendError, BackendRefused
from workers.backends.freshdesk import events
from workers.backends.freshdesk.client import NAME, PAGE, Allowance, Freshdesk, api
from workers.backends.freshdesk.settings import FreshdeskSettings
from workers.backends.hosted import HostedBackend, identity_of
from workers.backends.pacing import PacingTimeout

log = logging.getLogger("intake.backends.freshdesk")

# Ours -> Freshdesk's status codes (2 Open, 3 Pending, 4 Resolved, 5 Closed), and back for a ticket we read.
TO_FRESHDESK = {TicketStatus.NEW: 2, TicketStatus.OPEN: 2, TicketStatus.IN_PROGRESS: 2, TicketStatus.WAITING: 3,
                TicketStatus.RESOLVED: 4, TicketStatus.CLOSED: 5}  # fmt: skip
FROM_FRESHDESK = {2: TicketStatus.OPEN, 3: TicketStatus.WAITING, 4: TicketStatus.RESOLVED, 5: TicketStatus.CLOSED}
SOURCES = {"email": 1, "voice": 3}  # everything else is a Portal ticket (2)
RECENT_PAGES = 3


def _settings(settings: Settings) -> FreshdeskSettings:
    return FreshdeskSettings.model_validate(settings.backends.section(NAME) or {})


class FreshdeskBackend(HostedBackend):
    name = NAME
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"webhook"})
    settings_model: ClassVar[type[BaseModel] | None] = FreshdeskSettings
    switch_on = "set FRESHDESK_URL and FRESHDESK_API_KEY"

    def __init__(self, conf: FreshdeskSettings, settings: Settings) -> None:
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
    def from_settings(cls, settings: Settings) -> FreshdeskBackend:
        return cls(_settings(settings), settings)

    @cached_property
    def freshdesk(self) -> Freshdesk:
        conf = self.conf
        allowance = Allowance(self.redis, conf.calls_per_window, conf.window_s)
        return Freshdesk(api(conf.url, conf.api_key.get_secret_value(), conf.timeout_s, conf.ca_file, allowance))

    def group_id(self, name: str) -> int:
        if self._groups is None or name not in self._groups:
            self._groups = {g.name: g.id for g in self.freshdesk.groups()}
        if name not in self._groups:
            known = ", ".join(sorted(self._groups)) or "none"
            raise BackendRefused(NAME, f"no group {name!r} in Freshdesk (known: {known}): fix backends.freshdesk.group "
                                       "or map.queue")  # fmt: skip
        return self._groups[name]

    # -- tickets ------------------------------------------------------------------------------------------

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        found = self.find(idempotency_key)
        if found is not None:
            log.info("freshdesk ticket found for a retried request", extra={"request_id": idempotency_key,
                                                                           "ticket": found})  # fmt: skip
            return found
        m, route = commitment.message, commitment.route
        mapped = self.conf.map.mapped(route, m)
        files, refused = self.files(m)
        body: dict[str, Any] = {
            **self._requester(m), "subject": wording.subject(m), "status": 2, "source": SOURCES.get(m.channel, 2),
            "description": wording.to_html(wording.description(commitment, refused)),
            "tags": list(dict.fromkeys(("intake", *route.tags))),
            "custom_fields": {**mapped.custom_fields, self.conf.request_field: idempotency_key},
        }  # fmt: skip
        if str(mapped.priority).isdigit():
            body["priority"] = int(mapped.priority)
        group = self.conf.map.queue.get(route.queue) or self.conf.map.default_queue or self.conf.group
        if group:
            body["group_id"] = self.group_id(group)
        self.attempts.note(idempotency_key)
        return str(self.freshdesk.create(body, _form(body, files) if files else None).id)

    def find(self, key: str) -> str | None:
        field = self.conf.request_field
        for ticket in self.freshdesk.filter(f"{field}:'{key}'"):
            if ticket.custom_fields.get(field) == key:
                return str(ticket.id)
        since = self.attempts.last(key)
        if since is None:
            return None
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for page in range(1, RECENT_PAGES + 1):
            tickets = self.freshdesk.changed_since(stamp, page)
            for ticket in tickets:
                if ticket.custom_fields.get(field) == key:
                    return str(ticket.id)
            if len(tickets) < PAGE:
                break
        return None

    def _requester(self, m: InboundMessage) -> dict[str, Any]:
        email, phone, handle = identity_of(m)
        name = m.requester.display_name.strip()
        if email:
            return {"email": email, **({"name": name} if name else {})}
        if phone:
            return {"phone": phone, "name": name or phone}  # Freshdesk wants a name with a phone alone
        return {"unique_external_id": f"intake-{handle}", "name": name or handle}

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        for note in self.freshdesk.conversations(ref):
            if wording.has_mark(note.body_text, idempotency_key):
                return str(note.id)
        files, refused = self.files(commitment.message)
        body: dict[str, Any] = {"body": wording.to_html(wording.follow_up(commitment, idempotency_key, refused)),
                                "private": not public}  # fmt: skip
        if public:  # the family's own words: an incoming note by the requester, which notifies nobody by email
            body.update(incoming=True, user_id=self.freshdesk.ticket(ref).requester_id)
        return str(self.freshdesk.add_note(ref, body, _form(body, files) if files else None).id)

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        self.freshdesk.update(child_ref, {"parent_id": int(parent_ref)}, "ticket.link")

    def fetch_status(self, ref: str) -> TicketStatus:
        return FROM_FRESHDESK.get(self.freshdesk.ticket(ref).status, TicketStatus.OPEN)

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        notes = self.freshdesk.conversations(ref) if comment else []
        if comment and not any(wording.has_mark(n.body_text, idempotency_key) for n in notes):
            body = {"body": wording.to_html(wording.status_comment(comment, idempotency_key)), "private": False}
            self.freshdesk.add_note(ref, body, None)
        self.freshdesk.update(ref, {"status": TO_FRESHDESK[status]})

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        return None  # Freshdesk's SLA policies set its own due dates; ours stay in Redis

    # -- status back, checks -----------------------------------------------------------------------------

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        events.verify(self.conf.webhook_header, self.secret, req.header(self.conf.webhook_header))
        return events.events(req.raw_body, self.conf.statuses)

    def check(self) -> list[str]:
        where = f"backends.{NAME}"
        try:
            self.freshdesk.me()
        except BackendAuthFailed as exc:
            return [f"{where}.api_key (FRESHDESK_API_KEY): Freshdesk refused it: {exc.message}"]
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}.url (FRESHDESK_URL): cannot reach Freshdesk at {self.conf.url}: {_said(exc)}"]
        try:
            return self._problems(where)
        except (BackendError, PacingTimeout) as exc:
            return [f"{where}: {_said(exc)}"]

    def _problems(self, where: str) -> list[str]:
        found: list[str] = []
        groups = {g.name for g in self.freshdesk.groups()}
        wanted = {self.conf.group: f"{where}.group", self.conf.map.default_queue: f"{where}.map.default_queue"}
        wanted.update({g: f"{where}.map.queue.{ours}" for ours, g in self.conf.map.queue.items()})
        for group, key in wanted.items():
            if group and group not in groups:
                found.append(f"{key}: Freshdesk has no group {group!r} (known: {', '.join(sorted(groups)) or 'none'})")
        fields = set(self.freshdesk.ticket_fields())
        named = {f"{where}.request_field": self.conf.request_field}
        named.update({f"{where}.map.custom_fields.{ours}": t for ours, t in self.conf.map.custom_fields.items()})
        for key, name in named.items():
            if name not in fields:
                found.append(f"{key}: Freshdesk has no ticket field {name!r}: add a single-line text field (Admin » "
                             "Ticket Fields) and give its API name here")  # fmt: skip
        if not self.secret:
            found.append(f"{where}.webhook_secret (FRESHDESK_WEBHOOK_SECRET): not set, so the automation rules' "
                         "webhooks are refused and no status or answer reaches the family")  # fmt: skip
        return found


def _form(body: dict[str, Any], files: list[File]) -> tuple[bytes, str]:
    """The same body as multipart (Freshdesk takes files no other way): lists as `name[]`, dicts as `name[key]`."""
    fields: list[tuple[str, str]] = []
    for key, value in body.items():
        if isinstance(value, list):
            fields += [(f"{key}[]", str(v)) for v in value]
        elif isinstance(value, dict):
            fields += [(f"{key}[{k}]", str(v)) for k, v in value.items()]
        elif isinstance(value, bool):
            fields.append((key, "true" if value else "false"))
        elif value is not None:
            fields.append((key, str(value)))
    return multipart(fields, [("attachments[]", f) for f in files])


def _said(exc: BackendError | PacingTimeout) -> str:
    return exc.message if isinstance(exc, BackendError) else str(exc)
