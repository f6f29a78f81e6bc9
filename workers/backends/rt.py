"""Request Tracker 5 (REST2): tickets in the district's RT, staff answers and statuses back by polling.

- **Create.** The ticket goes into the mapped queue with the requester as a user RT knows: their email
  (RT makes the user itself), or, for someone we know only by phone, an unprivileged RT user named by the
  number (E.164), with no email address, so RT never mails them and their answers go out by text.
  Subject, text, attachments (uploaded), priority, due date, and our request id in the custom field
  `request_field` (default `Intake Request`), by which we find the ticket again.
- **Never twice.** Before creating, one TicketSQL search on that field: a retry after a crash between
  RT's 201 and our record finds the ticket instead of making a second. A message added to a ticket
  (a follow-up, a note, a status change's comment) carries our mark `[intake:<key>]` in its subject, and
  is looked for before it is added again.
- **Back by polling** (`rt_poll.py`): no webhooks in RT; the `sync` process calls `poll_changes`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

import redis
from pydantic import BaseModel, Field, SecretStr, model_validator
from rt.rest2 import Attachment as RtAttachment

from gateway.models import Commitment, InboundMessage, StatusEvent, TicketStatus
from gateway.settings import Settings
from gateway.settings.base import Strict
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobMissing, BlobStore
from gateway.store.redis_conn import sync_client
from workers.backends import rt_poll
from workers.backends.base import BaseBackend, StatusSource
from workers.backends.errors import BackendAuthFailed, BackendError, BackendRateLimited, BackendRefused
from workers.backends.mapping import FieldMap
from workers.backends.pacing import Pacer, PacingTimeout
from workers.backends.rt_client import NAME, RtApi

# RT's own priorities (RT 5 shows 0 Low, 50 Medium, 100 High); `map.priority` replaces any of them.
PRIORITIES = {"low": 0, "normal": 50, "high": 75, "urgent": 100}
# Our statuses as RT names them; back the other way in rt_poll.FROM_RT.
TO_RT = {
    TicketStatus.NEW: "new",
    TicketStatus.OPEN: "open",
    TicketStatus.IN_PROGRESS: "open",
    TicketStatus.WAITING: "stalled",
    TicketStatus.RESOLVED: "resolved",
    TicketStatus.CLOSED: "resolved",
}
CHANNEL_WORDS = {"sms": "text message", "voice": "voicemail", "webform": "web form", "email": "email",
                 "slack": "Slack"}  # fmt: skip
RT_TIME = "%Y-%m-%d %H:%M:%S"  # what RT reads as UTC


class RtSettings(Strict):
    """`backends.rt`: on when `url`, a token (or a user and password) and `queue` are set."""

    url: str = ""
    token: SecretStr = SecretStr("")
    user: str = ""
    password: SecretStr = SecretStr("")
    queue: str = ""
    request_field: str = "Intake Request"
    # RT has no tags of its own: a ticket custom field (Freeform, many values) takes the request's tags.
    # Empty: they are listed in the ticket's first message instead.
    tags_field: str = ""
    per_minute: float = Field(1200, gt=0)
    timeout_s: float = Field(30, gt=0)
    ca_file: str = ""
    map: FieldMap = Field(default_factory=FieldMap)

    @model_validator(mode="after")
    def _credentials(self) -> RtSettings:
        if self.url and not self.token.get_secret_value() and not (self.user and self.password.get_secret_value()):
            raise ValueError("url is set but neither token (RT_TOKEN) nor user and password (RT_USER, RT_PASSWORD)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https:// (RT's address, e.g. https://rt.example.org/)")
        if self.url and not self.queue and not self.map.default_queue:
            # Without it a request of a department the map does not name would go to an RT queue of our
            # department's name, which check-config cannot know to look for: RT refuses it only at delivery.
            raise ValueError("url is set but queue (RT_QUEUE) is empty: name the RT queue tickets go to "
                             "unless map.queue names another")  # fmt: skip
        return self

    @property
    def configured(self) -> bool:
        return bool(self.url) and (bool(self.token.get_secret_value()) or bool(self.user))


def mark(key: str) -> str:
    """What a message we add to a ticket carries in its subject, so a retry can find it."""
    return f"[intake:{key}]"


def _safe_name(name: str) -> str:
    return re.sub(r'[<>"\\\r\n]', "", name).strip()


class RtBackend(BaseBackend):
    """Tickets in Request Tracker 5 through REST2; statuses and staff answers come back by polling."""

    name = NAME
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"polling"})
    settings_model: ClassVar[type[BaseModel] | None] = RtSettings

    def __init__(self, conf: RtSettings, settings: Settings) -> None:
        self.conf = conf
        self.settings = settings
        self.api = RtApi(conf.url or "http://rt.invalid/", token=conf.token.get_secret_value(), user=conf.user,
                         password=conf.password.get_secret_value(), timeout_s=conf.timeout_s,
                         ca_file=conf.ca_file)  # fmt: skip
        self.field = conf.request_field
        self._phone_users: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> RtBackend:
        return cls(RtSettings.model_validate(settings.backends.section(NAME) or {}), settings)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        raw = settings.backends.section(NAME) or {}
        try:
            return RtSettings.model_validate(raw).configured
        except ValueError:
            return False

    @cached_property
    def redis(self) -> redis.Redis:
        return sync_client(self.settings)

    @cached_property
    def pacer(self) -> Pacer:
        return Pacer(self.redis, NAME, self.conf.per_minute)

    @cached_property
    def blobs(self) -> BlobStore:
        return open_blobs(self.settings)

    def _go(self) -> None:
        """Before each call to RT: it is configured, and it is our turn (one bucket across all workers)."""
        if not self.conf.configured:
            raise BackendAuthFailed(NAME, "not configured: set backends.rt.url (RT_URL) and a token (RT_TOKEN)")
        try:
            self.pacer.take()
        except PacingTimeout as exc:
            raise BackendRateLimited(NAME, f"our own pacing (backends.rt.per_minute): {exc}") from None

    # -- tickets ----------------------------------------------------------------------------------

    def queue_for(self, commitment: Commitment) -> str:
        fmap, route = self.conf.map, commitment.route
        return fmap.queue.get(route.queue) or fmap.default_queue or self.conf.queue or route.queue

    def find(self, key: str) -> str | None:
        """The ticket carrying our id `key` in the custom field, if RT has one (the oldest, were there two)."""
        self._go()
        query = f"'CF.{{{self.field}}}' = '{_quoted(key)}'"
        found = self.api.listing(self.api.client.search, raw_query=query, order="id", query_format=["id"])
        ids = sorted(int(t["id"]) for t in found)
        return str(ids[0]) if ids else None

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        existing = self.find(idempotency_key)
        if existing is not None:
            return existing
        m, route = commitment.message, commitment.route
        mapped = self.conf.map.mapped(route, m)
        queue = self.queue_for(commitment)
        custom: dict[str, Any] = {**mapped.custom_fields, self.field: idempotency_key}
        if self.conf.tags_field and route.tags:
            custom[self.conf.tags_field] = list(route.tags)
        fields: dict[str, Any] = {"CustomFields": custom}
        requestor = self._requestor(m)
        if requestor:
            fields["Requestor"] = requestor
        fields["Priority"] = _priority(mapped.priority, route.priority.value)
        if route.resolution_due is not None:
            fields["Due"] = route.resolution_due.astimezone(UTC).strftime(RT_TIME)
        subject = m.subject or m.text.strip().splitlines()[0][:80] if (m.subject or m.text.strip()) else "Request"
        tags_in_text = bool(route.tags) and not self.conf.tags_field
        self._go()
        try:
            content = self._body(m) + (f"\n\nTags: {', '.join(route.tags)}" if tags_in_text else "")
            ticket = self.api.call(self.api.client.create_ticket, queue, subject=subject, content=content,
                                   attachments=self._files(m) or None, **fields)  # fmt: skip
        except BackendRefused as exc:
            raise self._queue_problem(queue, exc) from None
        return str(ticket)

    def _queue_problem(self, queue: str, exc: BackendRefused) -> BackendRefused:
        """RT says 403 both for a queue it lacks and for one we may not create in: say which."""
        if self.api.exists(self.api.client.get_queue, queue):
            return exc
        return BackendRefused(NAME, f"{exc.message} (RT has no queue {queue!r}: fix backends.rt.map.queue or "
                                    "RT_QUEUE, or create the queue in RT)")  # fmt: skip

    def _requestor(self, m: InboundMessage) -> str | None:
        who = m.requester
        email = who.email or (m.sender if m.channel == "email" else None)
        if email:
            name = _safe_name(who.display_name)
            return f"{name} <{email}>" if name else email
        phone = who.phone or (m.sender if m.channel in ("sms", "voice") else None)
        if phone:
            return self._phone_user(phone, who.display_name)
        return None

    def _phone_user(self, phone: str, display_name: str) -> str:
        """An RT user named by the number, made once: RT knows people by email, and mails every one it knows."""
        if phone not in self._phone_users:
            self._go()
            if not self.api.exists(self.api.client.get_user, phone):
                self._go()
                self.api.call(self.api.client.create_user, phone, "", RealName=_safe_name(display_name) or phone,
                              MobilePhone=phone, Privileged=0)  # fmt: skip
            self._phone_users.add(phone)
        return phone

    def _body(self, m: InboundMessage) -> str:
        lines = [m.text or "(no text)"]
        skipped = [a for a in m.attachments if not a.kept or not a.storage_key]
        if skipped:
            lines.append("")
            lines += [f"Not attached: {a.filename} ({a.reason or 'not kept'})" for a in skipped]
        return "\n".join(lines)

    def _files(self, m: InboundMessage) -> list[RtAttachment]:
        files = []
        for a in m.attachments:
            if a.kept and a.storage_key:
                try:
                    files.append(RtAttachment(a.filename, a.content_type, self.blobs.get(a.storage_key)))
                except BlobMissing:
                    continue
        return files

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        m = commitment.message
        how = CHANNEL_WORDS.get(m.channel, m.channel)
        subject = f"{'Follow-up' if public else 'Note'} by {how} {mark(idempotency_key)}"
        found = self._marked(ref, idempotency_key)
        if found is not None:
            return found
        files = [(f.file_name, f.file_content, f.file_type) for f in self._files(m)]
        self._go()
        return self.api.message(ref, self._body(m), subject=subject, internal=not public, files=files)

    def _marked(self, ref: str, key: str) -> str | None:
        """The transaction that already carries our mark for `key` on this ticket, if any."""
        self._go()
        query = [{"field": "Subject", "operator": "LIKE", "value": mark(key)}]
        found = self.api.listing(self.api.client.get_attachments, ref, query_filter=query,
                                 query_format=["TransactionId"])  # fmt: skip
        return str(found[0]["TransactionId"]) if found else None

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        self._go()
        self.api.call(self.api.client.edit_link, child_ref, "Parent", parent_ref)  # the child is MemberOf the parent

    def fetch_status(self, ref: str) -> TicketStatus:
        self._go()
        ticket = self.api.call(self.api.client.get_ticket, ref)
        return rt_poll.ours(str(ticket.get("Status", "")))

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        theirs = TO_RT[status]
        if comment:
            if self._marked(ref, idempotency_key) is None:
                self._go()
                self.api.message(ref, comment, subject=f"Update {mark(idempotency_key)}", status=theirs)
            return
        self._go()  # setting a status RT already has changes nothing: no mark needed
        self.api.call(self.api.client.edit_ticket, ref, Status=theirs)

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        if kind != "resolution":
            return None  # RT has one due date, the resolution's; the first-response clock stays ours
        self._go()
        self.api.call(self.api.client.edit_ticket, ref, Due=due.astimezone(UTC).strftime(RT_TIME))

    # -- status back, and checks --------------------------------------------------------------------

    def poll_changes(self, checkpoint: str) -> tuple[list[StatusEvent], str]:
        self._go()
        return rt_poll.poll(self.api, self.field, checkpoint)

    def check(self) -> list[str]:
        if not self.conf.configured:
            return ["backends.rt: not configured (set RT_URL with RT_TOKEN, or RT_USER and RT_PASSWORD)"]
        try:
            return self._check()
        except BackendError as exc:
            return [f"backends.rt: {self.api.url}: {exc.message}"]

    def _check(self) -> list[str]:
        api = self.api
        api.ping()  # 401: our credentials; unreachable: the address
        problems: list[str] = []
        queues = sorted({*self.conf.map.queue.values(), self.conf.map.default_queue, self.conf.queue} - {""})
        for queue in queues:
            if not api.exists(api.client.get_queue, queue):
                problems.append(f"backends.rt: RT has no queue {queue!r} that our user can see (SeeQueue); it is "
                                "named in backends.rt.queue (RT_QUEUE) or backends.rt.map")  # fmt: skip
        if not api.custom_field_exists(self.field):
            problems.append(f"backends.rt: RT has no ticket custom field {self.field!r} that our user can see "
                            "(SeeCustomField): create it (Freeform, one value) for tickets in every queue we file "
                            "into, or set backends.rt.request_field")  # fmt: skip
        if self.conf.tags_field and not api.custom_field_exists(self.conf.tags_field):
            problems.append(f"backends.rt: RT has no ticket custom field {self.conf.tags_field!r} that our user can "
                            "see (SeeCustomField): create it (Freeform, many values), or empty "
                            "backends.rt.tags_field")  # fmt: skip
        return problems


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _priority(mapped: str | int, ours: str) -> int:
    if isinstance(mapped, int):
        return mapped
    if mapped.strip().lstrip("-").isdigit():
        return int(mapped)
    return PRIORITIES.get(ours, 50)
