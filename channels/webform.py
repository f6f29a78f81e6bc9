"""The web form channel: JSON posts from form sources (district sites, Google/Microsoft Forms scripts).

Each source authenticates with a bearer token or an HMAC-SHA256 signature of the raw body. A source
with neither configured is off: nothing is accepted on its behalf.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from channels.base import BaseChannel, HookContext, Received, WorkerServices
from gateway import keys
from gateway.errors import BadRequest, Unauthorized, Unprocessable
from gateway.ids import new_id
from gateway.macs import Sha256Mac
from gateway.models import InboundMessage, Reply, Requester, utcnow
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import FormSource, Settings, WebformSettings
from gateway.store.blobs import BlobStore
from gateway.store.commit import CommitResult
from gateway.web.status_links import status_url
from normalizers.webform import FormFields, InvalidSubmission, parse_submission

log = logging.getLogger("intake.channels.webform")

MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class _Source:
    name: str
    token: bytes
    secret: bytes
    mac: Sha256Mac | None


def _source(name: str, conf: FormSource) -> _Source:
    secret = conf.signing_secret.get_secret_value().encode()
    return _Source(name, conf.token.get_secret_value().encode(), secret, Sha256Mac(secret) if secret else None)


class WebformChannel(BaseChannel):
    name = "webform"
    max_text_len = 20_000
    rate_per_sec = 0.0  # replies are written to the status page, not sent anywhere

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf: WebformSettings = settings.channels.webform
        self.key = settings.signing_key()
        self.categories = [c.id for c in self.conf.categories]
        self.schools = [s.id for s in self.conf.schools]
        self.languages = list(self.conf.languages)
        self.labels = {c.id: c.label for c in self.conf.categories}
        self.sources = [_source(n, s) for n, s in self.conf.sources.items() if s.configured]
        off = [n for n, s in self.conf.sources.items() if not s.configured]
        for n in off:
            log.warning("webform source is off: no token or signing secret configured", extra={"source": n})

    def authenticate(self, req: InboundRequest) -> str:
        """The source name, or Unauthorized. Compared in constant time, on the raw bytes."""
        auth = req.header("authorization") or ""
        signature = req.header("x-intake-signature") or ""
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip().encode()
            for s in self.sources:
                if s.token and hmac.compare_digest(presented, s.token):
                    return s.name
        if signature.startswith("sha256="):
            presented = signature[7:].strip().lower().encode()
            for s in self.sources:
                if s.mac is not None:
                    expected = s.mac.digest(req.raw_body).hex().encode()
                    if hmac.compare_digest(presented, expected):
                        return s.name
        raise Unauthorized("missing or invalid credentials")

    def parse(self, payload: object) -> FormFields:
        try:
            return parse_submission(
                payload,
                categories=self.categories,
                schools=self.schools,
                languages=self.languages,
                default_language=self.settings.default_language,
                max_file_bytes=self.conf.max_attachment_bytes,
                phones=self.settings.identity.phones,
            )
        except InvalidSubmission as exc:
            extra = {"valid": exc.valid} if exc.valid else {}
            raise Unprocessable("the submission has invalid fields", fields=exc.fields, **extra) from None

    def to_message(self, fields: FormFields, source: str, provider_id: str | None) -> InboundMessage:
        attachments = tuple(self.blobs.put(f.data, f.filename) for f in fields.files)
        label = self.labels.get(fields.category, {})
        subject = fields.subject or label.get(fields.language) or label.get("en") or fields.category
        return InboundMessage(
            id=new_id(),
            channel="webform",
            account=f"{self.conf.account}/{source}",
            provider_id=provider_id,
            sender=fields.email or fields.phone or "",
            requester=Requester(
                display_name=fields.name,
                email=fields.email,
                phone=fields.phone,
                locale=fields.language,
                campus=fields.school,
            ),
            subject=subject,
            text=fields.message,
            full_text=fields.message,
            language=fields.language,
            language_source="chosen" if fields.language_chosen else "channel",
            category=fields.category,
            campus=fields.school,
            attachments=attachments,
        )

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.channels.webform.enabled

    @classmethod
    def reply_targets(cls, conversation: Mapping[str, str]) -> list[tuple[str, str]]:
        """The status page; and email too when the requester left an address."""
        targets = [(cls.name, conversation.get("sender", ""))]
        if conversation.get("email"):
            targets.append(("email", conversation["email"]))
        return targets

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        source = self.authenticate(req)
        key = req.header("idempotency-key")
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        try:
            payload = orjson.loads(req.raw_body)
        except orjson.JSONDecodeError:
            raise BadRequest("body is not valid JSON") from None
        fields = self.parse(payload)
        return Received([self.to_message(fields, source, key)], AckResponse(status=202))

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        base = self.settings.server.public_base_url or req.public_url.split(req.path, 1)[0]
        rid = results[0].request_id
        return AckResponse.json({"request_id": rid, "status_url": status_url(base, self.key, rid)}, status=202)

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """A web form's channel is the requester's status page: the reply is published on its timeline."""
        entry = {"at": utcnow().isoformat(), "event": "reply", "reply_event": reply.event, "text": reply.text,
                 "language": reply.language}  # fmt: skip
        with svc.redis.pipeline() as pipe:  # the entry and its delivery record together: a retry never doubles it
            pipe.rpush(keys.timeline(reply.conversation), json.dumps(entry))
            pipe.sadd(keys.deliveries(reply.conversation), key)
            pipe.execute()
        return "published"
