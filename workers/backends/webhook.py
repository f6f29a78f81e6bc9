"""The generic `webhook` backend: any system that can take a signed JSON POST and send one back.

Requests, follow-ups, incident links and incident status updates are POSTed to INTAKE_WEBHOOK_URL
(`webhook_contract.py` has the bodies); status changes and staff answers come back, signed the same
way, at POST /backends/webhook/events. The receiver makes each write once: a POST repeating a
`request_id` (also sent as `Idempotency-Key`) answers with the ticket it already made, and a repeated
`comment_id` adds nothing. That is what keeps a retry after a lost answer from making a second ticket.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, model_validator

from gateway.models import Attachment, Commitment, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings
from gateway.settings.base import Strict
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobStore
from workers.backends.base import BaseBackend, StatusSource
from workers.backends.errors import BackendError, BackendRefused
from workers.backends.http import call, raise_for_status
from workers.backends.mapping import FieldMap
from workers.backends.webhook_contract import (
    SIGNATURE_HEADER,
    EventType,
    comment_body,
    create_body,
    parse_event,
    signature,
    verify,
)


class WebhookSettings(Strict):
    """`backends.webhook`: on when both `url` and `secret` are set (INTAKE_WEBHOOK_URL, INTAKE_WEBHOOK_SECRET)."""

    url: str = Field("", pattern=r"^$|^https?://")
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str = ""  # a private CA for the receiver's certificate
    # Files up to this size travel inside the POST (base64); larger ones are listed with their size and digest.
    max_inline_bytes: int = Field(10 * 1024 * 1024, ge=0)
    map: FieldMap = Field(default_factory=FieldMap)

    @model_validator(mode="after")
    def _pair(self) -> WebhookSettings:
        if bool(self.url) != bool(self.secret.get_secret_value()):
            raise ValueError("needs both url and secret (INTAKE_WEBHOOK_URL and INTAKE_WEBHOOK_SECRET), or neither")
        return self


class WebhookBackend(BaseBackend):
    name = "webhook"
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"webhook"})
    answers_status = False  # the receiver reports changes; it is never asked
    settings_model: ClassVar[type[BaseModel] | None] = WebhookSettings
    switch_on = "set INTAKE_WEBHOOK_URL and INTAKE_WEBHOOK_SECRET"

    def __init__(self, conf: WebhookSettings, blobs: BlobStore | None = None) -> None:
        self.conf = conf
        self.secret = conf.secret.get_secret_value().encode()
        self.blobs = blobs

    @classmethod
    def settings_of(cls, settings: Settings) -> WebhookSettings:
        return WebhookSettings.model_validate(settings.backends.section(cls.name) or {})

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        raw = settings.backends.section(cls.name) or {}
        return bool(raw.get("url") and raw.get("secret"))

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookBackend:
        return cls(cls.settings_of(settings), open_blobs(settings))

    # --- calls ------------------------------------------------------------------------------------

    def _post(self, event: EventType, payload: dict[str, Any], idempotency_key: str | None) -> Any:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "intake-gateway", "X-Intake-Event": event,
                   SIGNATURE_HEADER: signature(self.secret, body)}  # fmt: skip
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        answer = call(self.name, event, "POST", self.conf.url, body=body, headers=headers,
                      timeout_s=self.conf.timeout_s, ca_file=self.conf.ca_file)  # fmt: skip
        raise_for_status(self.name, event, answer)
        return answer.json()

    def _read(self, a: Attachment) -> bytes | None:
        if self.blobs is None or not a.storage_key or a.size > self.conf.max_inline_bytes:
            return None
        try:
            return self.blobs.get(a.storage_key)
        except OSError:
            return None

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        mapped = self.conf.map.mapped(commitment.route, commitment.message)
        answer = self._post("ticket.create", create_body(commitment, mapped, self._read), idempotency_key)
        ref = answer.get("ticket_ref") if isinstance(answer, dict) else None
        if not isinstance(ref, str | int) or isinstance(ref, bool) or not str(ref):
            raise BackendRefused(self.name, 'ticket.create: the answer has no "ticket_ref"')
        return str(ref)

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        self._post("ticket.comment", comment_body(ref, commitment, idempotency_key, public, self._read),
                   idempotency_key)  # fmt: skip
        return idempotency_key

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        payload = {"type": "ticket.link", "parent_ref": parent_ref, "child_ref": child_ref}
        self._post("ticket.link", payload, f"link-{parent_ref}-{child_ref}")

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        payload = {"type": "ticket.status", "ticket_ref": ref, "status": status.value, "comment": comment,
                   "actor": actor, "change_id": idempotency_key}  # fmt: skip
        self._post("ticket.status", payload, idempotency_key)

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        return None  # the receiver got the due times with the ticket; a later move stays on our clocks

    def fetch_status(self, ref: str) -> TicketStatus:
        raise BackendRefused(self.name, "the webhook backend is never asked for a status: it reports changes")

    # --- what comes back ----------------------------------------------------------------------------

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        verify(self.secret, req.header(SIGNATURE_HEADER), req.raw_body)
        return [parse_event(req.raw_body)]

    def check(self) -> list[str]:
        try:
            self._post("ping", {"type": "ping"}, None)
        except BackendError as exc:
            return [f"{exc.message} (INTAKE_WEBHOOK_URL, INTAKE_WEBHOOK_SECRET)"]
        return []
