"""The web form channel: JSON posts from form sources (district sites, Google/Microsoft Forms scripts).

Each source authenticates with a bearer token or a timestamped HMAC-SHA256 signature (gateway/signatures.py:
`t=<unix>,v1=<hex HMAC of "<t>.<body>">`, refused when more than 300 s from our clock). The old signature of
the body alone (`sha256=<hex>`) can be replayed for ever, so it is taken only from sources marked
`legacy_signature`. A signed post is deduplicated on what its signature covers, the body: the
`Idempotency-Key` header is not signed, so it counts only with a bearer token. A source with neither a
token nor a secret is off: nothing is accepted on its behalf.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from channels.base import BaseChannel, HookContext, Received, WorkerServices
from gateway import keys, signatures
from gateway.errors import BadRequest, Misdirected, Unauthorized, Unprocessable
from gateway.ids import new_id
from gateway.macs import Sha256Mac
from gateway.models import Attachment, InboundMessage, Reply, Requester, utcnow
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import FormSource, Settings, WebformSettings
from gateway.store.blobs import BlobStore
from gateway.store.commit import CommitResult
from gateway.web.status_links import link_base, status_url
from normalizers.webform import FormFields, InvalidSubmission, parse_submission

log = logging.getLogger("intake.channels.webform")

MAX_IDEMPOTENCY_KEY = 200
LEGACY_PREFIX = "sha256="


@dataclass(frozen=True)
class _Source:
    name: str
    token: bytes
    mac: Sha256Mac | None
    legacy: bool


def _source(name: str, conf: FormSource) -> _Source:
    secret = conf.signing_secret.get_secret_value().encode()
    mac = Sha256Mac(secret) if secret else None
    return _Source(name, conf.token.get_secret_value().encode(), mac, conf.legacy_signature)


@dataclass(frozen=True)
class Caller:
    source: str
    signed: bool  # by signature (deduplicated on the body) rather than by bearer token


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
        # The few origins requests come to, each judged once (the settings do not change while we run).
        self._bases = functools.lru_cache(maxsize=64)(functools.partial(link_base, settings))
        off = [n for n, s in self.conf.sources.items() if not s.configured]
        for n in off:
            log.warning("webform source is off: no token or signing secret configured", extra={"source": n})

    def authenticate(self, req: InboundRequest, now: float | None = None) -> Caller:
        """Who sent it, or Unauthorized. Compared in constant time, on the raw bytes."""
        auth = req.header("authorization") or ""
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip().encode()
            for s in self.sources:
                if s.token and hmac.compare_digest(presented, s.token):
                    return Caller(s.name, signed=False)
        signature = (req.header("x-intake-signature") or "").strip()
        if signature.startswith(LEGACY_PREFIX):
            return self._legacy(signature[len(LEGACY_PREFIX) :].strip().lower().encode(), req.raw_body)
        stamped = signatures.parse(signature) if signature else None
        if stamped is not None:
            for s in self.sources:
                if s.mac is not None and signatures.matches(s.mac, stamped, req.raw_body):
                    if not signatures.fresh(stamped, time.time() if now is None else now):
                        raise Unauthorized(
                            f"the signature's timestamp is more than {signatures.TOLERANCE_S} seconds from the "
                            "gateway's clock: sign each request when you send it, with t= the current Unix time"
                        )
                    return Caller(s.name, signed=True)
        raise Unauthorized("missing or invalid credentials")

    def _legacy(self, presented: bytes, body: bytes) -> Caller:
        for s in self.sources:
            if s.legacy and s.mac is not None and hmac.compare_digest(presented, s.mac.digest(body).hex().encode()):
                return Caller(s.name, signed=True)
        raise Unauthorized(
            "missing or invalid credentials (a sha256= signature is taken only from a source marked "
            "legacy_signature; sign \"t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>\" instead)"
        )

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

    def to_message(
        self, fields: FormFields, source: str, provider_id: str | None, stored: Sequence[Attachment] = ()
    ) -> InboundMessage:
        """`stored`: files already in the blob store (the form page streams its upload there)."""
        attachments = (*stored, *(self.blobs.put(f.data, f.filename) for f in fields.files))
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

    def _link_base(self, req: InboundRequest) -> str:
        base = self._bases(req.public_url.split(req.path, 1)[0])
        if base is None:
            raise Misdirected(
                "this gateway does not answer to that Host: set server.public_base_url (PUBLIC_BASE_URL) to the "
                "address requesters use, so that status links are never built from a Host header"
            )
        return base

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        caller = self.authenticate(req)
        self._link_base(req)  # refused before anything is stored: the answer would carry a link to that host
        # A signed post is taken once per body (what the signature covers): an unsigned header that made it a
        # new request would let anyone who saw it post it again as a new ticket.
        key = None if caller.signed else req.header("idempotency-key")
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        try:
            payload = orjson.loads(req.raw_body)
        except orjson.JSONDecodeError:
            raise BadRequest("body is not valid JSON") from None
        fields = self.parse(payload)
        if hook.limits is not None:  # before the attachments are written: a refused post leaves nothing
            client = hook.limits.client_of(req.remote, req.header("x-forwarded-for"))
            await hook.limits.hook(client, fields.email, fields.phone)
        if fields.files:  # keeping them is disk or database I/O (blobs.store): never on the event loop
            loop = asyncio.get_running_loop()
            message = await loop.run_in_executor(None, self.to_message, fields, caller.source, key)
        else:
            message = self.to_message(fields, caller.source, key)
        return Received([message], AckResponse(status=202))

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        base = self._link_base(req)
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
