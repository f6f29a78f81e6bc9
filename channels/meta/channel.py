"""Messenger, Instagram and WhatsApp (Meta's Cloud API): one webhook for the three, and a channel each.

`meta` owns `GET|POST /hooks/meta`: the subscription handshake, then every POST verified over its raw
bytes (`X-Hub-Signature-256`, the app secret) before anything is parsed. One POST may carry many
entries and many messages: each becomes a request committed on its own id (mid, wamid), so Meta's
at-least-once retries and duplicates make one request each; echoes, reads and reactions are counted
in `intake_ignored_total` and WhatsApp's receipts move our messages forward. Meta gets its 200 only
after the commit; media, profiles and replies are the workers' business.

`messenger`, `instagram` and `whatsapp` are the channels their requests and replies carry: each sends
through the Graph API within Meta's 24-hour window (channels/meta/replies.py), answers STATUS in the
thread, records when the family last wrote, and fetches media after the ticket exists.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel
from redis.exceptions import RedisError

from channels.base import BaseChannel, Handled, HookContext, HookRoute, Received, WorkerServices
from channels.meta import graph
from channels.meta.graph import GraphError
from channels.meta.inbound import Accounts, recipient_id, to_message
from channels.meta.media import fetch_media
from channels.meta.receipts import apply_receipts
from channels.meta.replies import record_inbound, send_meta_reply, survey_window_closed
from channels.meta.settings import MetaSettings, meta_settings
from channels.meta.verify import check_signature, handshake
from channels.social.keywords import answer_status, chat_keywords
from gateway import keys
from gateway.errors import BadRequest, Unavailable
from gateway.models import Commitment, Reply
from gateway.outbox.consent import phone_digest
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from gateway.store.queues import FETCH_MEDIA_FUNC, REPLIES_QUEUE, enqueue_once
from gateway.store.redis_conn import text
from normalizers.meta import InvalidPayload, parse_batch

log = logging.getLogger("intake.channels.meta")

PATH = "/hooks/meta"
_OK = AckResponse(status=200, body=b"EVENT_RECEIVED")


class MetaWebhook(BaseChannel):
    """The webhook Messenger, Instagram and WhatsApp share. On with META_APP_SECRET and META_VERIFY_TOKEN."""

    name = "meta"
    settings_model: ClassVar[type[BaseModel] | None] = MetaSettings

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf = meta_settings(settings)
        if not self.conf.enabled:
            raise ValueError("the Meta webhook needs channels.meta.app_secret and verify_token")
        self.secret = self.conf.app_secret.get_secret_value().encode()
        self.accounts = Accounts(self.conf)
        self.words = chat_keywords(settings)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return meta_settings(settings).enabled

    def routes(self) -> Sequence[HookRoute]:
        return [HookRoute("GET", PATH, self.subscribe), HookRoute("POST", PATH)]

    async def subscribe(self, req: InboundRequest, hook: HookContext) -> AckResponse:
        return handshake(req.query, self.conf.verify_token.get_secret_value().encode())

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        check_signature(self.secret, req.raw_body, req.header("x-hub-signature-256"))
        try:
            batch = parse_batch(req.raw_body)
        except InvalidPayload as exc:
            raise BadRequest("the body is not a Meta webhook", fields=exc.fields) from None
        messages = []
        for m in sorted(batch.messages, key=lambda m: m.timestamp):  # one person's messages in the order sent
            account, entry = self.accounts.account(m.product, m.account_id)
            messages.append(to_message(m, account, entry, self.words, self.conf.graph_url))
        if batch.statuses:
            try:
                await apply_receipts(hook.redis, self.settings, batch.statuses)
            except (RedisError, OSError):
                # A receipt can wait in no spool: Meta delivers the whole POST again later, its messages once each.
                raise Unavailable("the receipts could not be recorded: retry") from None
        ignored = [*batch.ignored, *(["receipt"] * len(batch.statuses))]
        return Received(messages, _OK, ignored=ignored)


class MetaProduct(BaseChannel):
    """What Messenger, Instagram and WhatsApp do alike: send within the window, STATUS, media, last message."""

    max_text_len = 2000
    rate_per_sec = 10.0

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf = meta_settings(settings)

    def routes(self) -> Sequence[HookRoute]:
        return []  # its webhooks arrive at /hooks/meta

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """Within Meta's 24-hour window, or another way, and recorded (channels/meta/replies.py)."""
        return send_meta_reply(svc.redis, svc.settings, self.conf, reply, key)

    def survey_blocked(self, conversation: Mapping[str, str], recipient: str, svc: WorkerServices) -> str:
        """A survey is an automatic message: only within Meta's 24-hour window, never by a tag or another channel."""
        return survey_window_closed(svc.redis, dict(conversation))

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        m = commitment.message
        record_inbound(svc.redis, commitment.conversation, m.received_at)
        if m.flags.status_request:
            return answer_status(commitment, svc)
        return self.with_profile(commitment, svc)

    def with_profile(self, commitment: Commitment, svc: WorkerServices) -> Commitment:
        return commitment

    def after_ticket(self, commitment: Commitment, ref: str, svc: WorkerServices) -> None:
        if not any(a.source_url for a in commitment.message.attachments):
            return
        payload = {"commitment": commitment.model_dump(mode="json"), "ticket": ref}
        enqueue_once(svc.redis, svc.settings, REPLIES_QUEUE, FETCH_MEDIA_FUNC, payload,
                     f"media-{commitment.message.id}", "fetch media")  # fmt: skip

    def fetch_media(self, commitment: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
        return fetch_media(commitment, ref, svc)


class _PageChannel(MetaProduct):
    profile_fields: ClassVar[str] = "name"

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        conf = meta_settings(settings)
        return conf.enabled and bool(conf.active_pages())

    def with_profile(self, commitment: Commitment, svc: WorkerServices) -> Commitment:
        """The sender's name from their profile (cached; the webhook names no one). Without it, the ticket waits not."""
        m = commitment.message
        if m.requester.display_name:
            return commitment
        name = self.profile_name(m.account, m.sender, svc)
        if not name:
            return commitment
        requester = m.requester.model_copy(update={"display_name": name})
        return commitment.model_copy(update={"message": m.model_copy(update={"requester": requester})})

    def profile_name(self, account: str, sender: str, svc: WorkerServices) -> str:
        cache = keys.social_profile(self.name, phone_digest(sender))
        cached = svc.redis.get(cache)
        if cached is not None:
            return text(cached)
        page = self.conf.page_named(account)
        if page is None:
            return ""
        try:
            found = graph.get(self.conf, recipient_id(sender), page.token.get_secret_value(),
                              {"fields": self.profile_fields})  # fmt: skip
        except GraphError as exc:
            log.info("profile not available", extra={"channel": self.name, "kind": exc.kind, "error_code": exc.code})
            return ""
        parts = " ".join(str(found.get(k) or "") for k in ("first_name", "last_name")).strip()
        name = str(found.get("name") or parts or found.get("username") or "").strip()
        if self.conf.profile_cache_s:
            svc.redis.set(cache, name, ex=self.conf.profile_cache_s)
        return name


class MessengerChannel(_PageChannel):
    name = "messenger"
    max_text_len = 2000
    profile_fields = "first_name,last_name"


class InstagramChannel(_PageChannel):
    name = "instagram"
    max_text_len = 1000
    profile_fields = "name,username"


class WhatsAppChannel(MetaProduct):
    name = "whatsapp"
    max_text_len = 4096

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        conf = meta_settings(settings)
        return conf.enabled and bool(conf.active_numbers())
