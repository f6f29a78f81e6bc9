"""Twilio SMS/MMS: verify `X-Twilio-Signature` with Twilio's RequestValidator, then normalize.

The signature covers the public URL Twilio called (PUBLIC_BASE_URL: we usually sit behind a proxy)
and either the sorted form parameters or, for a JSON body, the body's SHA-256 carried in the URL's
`bodySHA256` parameter. Nothing is parsed for meaning before the signature holds; a request with no
signature, or one the auth token did not sign, is refused with 403 and nothing is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from twilio.twiml.messaging_response import MessagingResponse

from channels.base import Handled, HookContext, HookRoute, Received, WorkerServices
from channels.twilio.base import TwilioChannel
from channels.twilio.status import DeliveryStatusHook
from channels.twilio.survey import answer_by_text
from gateway.errors import BadRequest
from gateway.ids import new_id
from gateway.models import Attachment, Commitment, Flags, InboundMessage, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings, TwilioNumber, TwilioSettings
from gateway.store.blobs import BlobStore
from normalizers.twilio_sms import InvalidPayload, Keywords, SmsFields, keyword_language, sms_fields

log = logging.getLogger("intake.channels.twilio")

SUBJECT_CHARS = 60


def keywords(conf: TwilioSettings) -> Keywords:
    return Keywords(
        opt_out=tuple(conf.opt_out_words),
        opt_in=tuple(conf.opt_in_words),
        help=tuple(conf.help_words),
        status=tuple(conf.status_words),
        new=tuple(conf.new_words),
    )


_EMPTY_TWIML = str(MessagingResponse()).encode()  # built once: it never changes


def empty_twiml() -> AckResponse:
    """Twilio's "do nothing": replies never go inline, they are jobs with their own retries and rules."""
    return AckResponse(status=200, body=_EMPTY_TWIML, content_type="text/xml")


class TwilioSmsChannel(TwilioChannel):
    name = "sms"
    max_text_len = 1600  # Twilio's limit for one message body
    rate_per_sec = 1.0  # per sending number; Twilio queues above its own long-code rate

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.keywords = keywords(self.conf)
        self.status = DeliveryStatusHook(settings)

    def routes(self) -> Sequence[HookRoute]:
        # /hooks/sms: where releases before the channels declared their own routes also took texts (every
        # channel had /hooks/<name>); a number pointed there then must keep working after an upgrade.
        return [HookRoute("POST", "/hooks/twilio/sms"), HookRoute("POST", "/hooks/sms"),
                HookRoute("POST", "/hooks/twilio/status", self.status.handle)]  # fmt: skip

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        """Consent keywords first (STOP always wins), then an open survey's rating or comment: neither is a ticket."""
        prepared = super().prepare(commitment, svc)
        if isinstance(prepared, Handled):
            return prepared
        answered = answer_by_text(prepared, svc)
        return prepared if answered is None else Handled(answered)

    def number(self, fields: SmsFields) -> tuple[str, TwilioNumber]:
        """The configured district number the text reached; an unknown one files under the first configured."""
        name = self.conf.number_for(fields.to, fields.messaging_service_sid)
        if name is None:
            name = next(iter(self.conf.numbers))
            log.warning("text to a number that is not configured", extra={"filed_under": name})
        return name, self.conf.numbers[name]

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        params = self.verifier.verified_params(req)
        try:
            fields = sms_fields(params)
        except InvalidPayload as exc:
            raise BadRequest("the webhook is missing fields Twilio always sends", fields=exc.fields) from None
        return Received([self.to_message(fields)], empty_twiml())

    def to_message(self, fields: SmsFields) -> InboundMessage:
        name, number = self.number(fields)
        kind = self.keywords.classify(fields.body) if not fields.media else None
        text = fields.body
        force_new = kind == "new"
        rest = self.keywords.split_new(text)
        if rest is not None:
            text, force_new = rest, True
        attachments = tuple(
            Attachment(
                filename=f"{fields.message_sid}-{i}",
                content_type=m.content_type,
                size=0,
                sha256="",
                kept=False,
                reason="being fetched",
                source_url=m.url,
            )
            for i, m in enumerate(fields.media)
        )
        subject = text.split("\n", 1)[0][:SUBJECT_CHARS] or ("Picture message" if attachments else "Text message")
        keyword_lang = keyword_language(fields.body) if kind else None
        language = keyword_lang or number.language
        return InboundMessage(
            id=new_id(),
            channel="sms",
            account=name,
            provider_id=fields.message_sid,
            sender=fields.sender,
            requester=Requester(phone=fields.sender, locale=language, campus=number.school),
            subject=subject,
            text=text or subject,
            full_text=fields.body,
            language=language,
            language_source="chosen" if keyword_lang else "channel",
            category=number.department,
            campus=number.school,
            attachments=attachments,
            thread_hints=ThreadHints(force_new=force_new, sender_continuity=True),
            flags=Flags(
                opt_out=kind == "opt_out",
                opt_in=kind == "opt_in",
                help=kind == "help",
                status_request=kind == "status",
            ),
        )
