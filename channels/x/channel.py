"""X direct messages: `GET /hooks/x` (the CRC check) and `POST /hooks/x` (Account Activity), replies as DMs.

Every POST is verified over its raw bytes before anything is parsed. Each direct message to the
district's account is a request committed on its event id (X may deliver an event twice); messages
the account itself sent, and every other activity (posts, likes, follows, typing, read receipts), are
counted in `intake_ignored_total`. Threading is by sender, like texts; STATUS is answered in the thread.
Files a family attaches stay at X (fetching them needs the account's own signed requests): the ticket
lists each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel

from channels.base import BaseChannel, Handled, HookContext, HookRoute, Received, WorkerServices
from channels.social.keywords import Classified, answer_status, chat_keywords, classify
from channels.social.sending import note_for_staff, outcome_of, record
from channels.x.api import XError, send_dm
from channels.x.settings import XSettings, x_settings
from channels.x.verify import check_signature, crc_response
from gateway.errors import BadRequest, DeliveryFailed
from gateway.ids import new_id
from gateway.models import Attachment, Commitment, Flags, InboundMessage, Reply, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from normalizers.meta import InvalidPayload
from normalizers.x import XMessage, parse_activity

log = logging.getLogger("intake.channels.x")

PATH = "/hooks/x"
SUBJECT_CHARS = 60


class XChannel(BaseChannel):
    name = "x"
    max_text_len = 10_000
    rate_per_sec = 1.0
    settings_model: ClassVar[type[BaseModel] | None] = XSettings

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf = x_settings(settings)
        if not self.conf.enabled:
            raise ValueError("the X channel needs channels.x.consumer_secret and the account's tokens")
        self.secret = self.conf.consumer_secret.get_secret_value().encode()
        self.words = chat_keywords(settings)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return x_settings(settings).enabled

    def routes(self) -> Sequence[HookRoute]:
        return [HookRoute("GET", PATH, self.crc), HookRoute("POST", PATH)]

    async def crc(self, req: InboundRequest, hook: HookContext) -> AckResponse:
        return crc_response(self.secret, req.query)

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        check_signature(self.secret, req.raw_body, req.header("x-twitter-webhooks-signature"))
        try:
            batch = parse_activity(req.raw_body)
        except InvalidPayload as exc:
            raise BadRequest("the body is not an X Account Activity event", fields=exc.fields) from None
        messages = [self.to_message(m) for m in sorted(batch.messages, key=lambda m: m.timestamp)]
        return Received(messages, AckResponse(status=200), ignored=batch.ignored)

    def to_message(self, m: XMessage) -> InboundMessage:
        said: Classified = classify(self.words, m.text) if not m.media else Classified(m.text, False, False, None)
        subject = said.text.split("\n", 1)[0][:SUBJECT_CHARS] or "X direct message"
        language = said.language or self.conf.language
        now = datetime.now(UTC)
        at = datetime.fromtimestamp(m.timestamp, UTC) if m.timestamp > 0 else now
        files = tuple(
            Attachment(
                filename=f"x-{f.kind}-{i + 1}",
                content_type=f"{f.kind}/*",
                size=0,
                sha256="",
                kept=False,
                reason="stays at X: open the conversation in X to see it",
            )
            for i, f in enumerate(m.media)
        )
        return InboundMessage(
            id=new_id(),
            channel="x",
            account=m.account_id,
            provider_id=m.event_id,
            received_at=min(at, now),
            sender=f"x:{m.sender_id}",
            requester=Requester(
                display_name=m.sender_name,
                handles={"x": f"@{m.screen_name}" if m.screen_name else m.sender_id},
                locale=language,
                campus=self.conf.school,
            ),
            subject=subject,
            text=said.text or subject,
            full_text=m.text,
            language=language,
            language_source="chosen" if said.language else "channel",
            category=self.conf.department,
            campus=self.conf.school,
            attachments=files,
            thread_hints=ThreadHints(
                force_new=said.force_new, sender_continuity=True, continuity_scope=f"x:{m.account_id}"
            ),
            flags=Flags(status_request=said.status_request),
        )

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        if commitment.message.flags.status_request:
            return answer_status(commitment, svc)
        return commitment

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """One direct message, once; a refusal X will repeat is recorded and noted on the ticket."""
        r = svc.redis
        done = outcome_of(r, key)
        if done is not None:
            return f"already done: {done}"
        participant = reply.recipient.removeprefix("x:")
        entry = {"event": "reply_decision", "channel": "x", "reply_event": reply.event}
        try:
            event_id = send_dm(self.conf, participant, reply.text)
        except XError as exc:
            log.warning("x reply refused", extra={"status": exc.status, "retry": exc.retry})
            if exc.retry:
                raise DeliveryFailed(str(exc), status=exc.status) from None
            why = f"X refused it (HTTP {exc.status}: the person may not accept direct messages from the account)"
            record(r, reply.conversation, key, "failed", {**entry, "way": "not_deliverable", "why": why})
            note = f"The {reply.event} reply was not delivered on X: {why}. Reach the family another way."
            note_for_staff(r, svc.settings, reply.conversation, key, note)
            return f"failed: HTTP {exc.status}"
        record(r, reply.conversation, key, "free_form", {**entry, "way": "free_form", "why": "a direct message",
                                                         "message": event_id})  # fmt: skip
        log.info("x reply sent", extra={"event": reply.event, "conversation": reply.conversation})
        return "sent"
