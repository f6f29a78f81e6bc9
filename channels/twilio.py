"""Twilio SMS/MMS: verify `X-Twilio-Signature` with Twilio's RequestValidator, then normalize.

The signature covers the public URL Twilio called (PUBLIC_BASE_URL: we usually sit behind a proxy)
and either the sorted form parameters or, for a JSON body, the body's SHA-256 carried in the URL's
`bodySHA256` parameter. Nothing is parsed for meaning before the signature holds; a request with no
signature, or one the auth token did not sign, is refused with 403 and nothing is stored.
"""

from __future__ import annotations

import binascii
import hmac
import logging
from functools import lru_cache
from hashlib import sha1
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels.base import Received
from channels.twilio_send import send_sms
from gateway.errors import BadRequest, Forbidden
from gateway.ids import new_id
from gateway.models import Attachment, Flags, InboundMessage, Reply, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings, TwilioNumber, TwilioSettings
from gateway.store.blobs import BlobStore
from gateway.store.commit import CommitResult
from normalizers.twilio_sms import (
    InvalidPayload,
    Keywords,
    SmsFields,
    keyword_language,
    parse_form,
    parse_json,
    sms_fields,
)

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


class _Params(dict[str, str]):
    """Form parameters in the multi-dict shape RequestValidator looks for first (`getall`): with a plain
    dict it falls back through two AttributeErrors per parameter, which costs more than the HMAC itself."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


# A probe the SDK's compute_signature must agree with before our own computation may accept anything.
_PROBE_URL = "https://example.org/hooks/twilio/sms?x=1"
_PROBE_PARAMS = {"Body": "¿Llegó? ok+ & =", "From": "+15550000000", "NumMedia": "0", "Empty": "", "A": "z"}


class TwilioVerifier:
    """Checks a webhook's `X-Twilio-Signature` and returns its parameters only when it holds."""

    def __init__(self, conf: TwilioSettings) -> None:
        if not conf.enabled:
            raise ValueError("the Twilio channel needs channels.twilio.account_sid and auth_token")
        self.validator = RequestValidator(conf.auth_token.get_secret_value())
        # The HMAC state after the key and the URL is the same for every webhook to one URL: computed once
        # per URL, each webhook only hashes its parameters. Bounded: the query string is the caller's.
        self._keyed_url = lru_cache(maxsize=16)(self._mac_over_url)
        # Twilio's algorithm (the URL, then each parameter's name and value by sorted name, HMAC-SHA1,
        # base64) as the SDK computes it; should the SDK ever disagree, only the SDK decides.
        self._fast = self.signature_for(_PROBE_URL, _PROBE_PARAMS) == self.validator.compute_signature(
            _PROBE_URL, _Params(_PROBE_PARAMS)
        )
        if not self._fast:
            log.warning("the twilio SDK signs differently than expected: every webhook is checked by the SDK alone")

    def _mac_over_url(self, url: str) -> hmac.HMAC:
        return hmac.new(self.validator.token, url.encode("utf-8"), sha1)

    def signature_for(self, url: str, params: dict[str, str]) -> str:
        """What RequestValidator.compute_signature(url, params) returns, for single-valued parameters."""
        mac = self._keyed_url(url).copy()
        mac.update("".join([name + params[name] for name in sorted(params)]).encode("utf-8"))
        return binascii.b2a_base64(mac.digest(), newline=False).decode("ascii")

    def verified_params(self, req: InboundRequest) -> dict[str, str]:
        signature = req.header("x-twilio-signature")
        if not signature:
            raise Forbidden("missing X-Twilio-Signature")
        ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
        if ctype == "application/json":
            return self._json(req, signature)
        try:
            params = _Params(parse_form(req.raw_body))
        except InvalidPayload:
            raise Forbidden("invalid X-Twilio-Signature") from None  # unparseable bytes were never signed
        # Twilio signs the URL it was given: one signature over exactly that URL settles a genuine webhook.
        # The SDK's validate() always computes two (the URL with and without its default port), so it is
        # only asked when the first does not match.
        if self._fast:
            exact = self.signature_for(req.public_url, params)
        else:
            exact = self.validator.compute_signature(req.public_url, params)
        if not hmac.compare_digest(exact.encode(), signature.encode()) and not self.validator.validate(
            req.public_url, params, signature
        ):
            raise Forbidden("invalid X-Twilio-Signature")
        return params

    def _json(self, req: InboundRequest, signature: str) -> dict[str, str]:
        # Without bodySHA256 in the signed URL the body itself would be unsigned.
        if "bodySHA256" not in parse_qs(urlsplit(req.public_url).query):
            raise Forbidden("invalid X-Twilio-Signature")
        try:
            body = req.raw_body.decode("utf-8")
        except UnicodeDecodeError:
            raise Forbidden("invalid X-Twilio-Signature") from None
        if not self.validator.validate(req.public_url, body, signature):
            raise Forbidden("invalid X-Twilio-Signature")
        try:
            return parse_json(req.raw_body)
        except InvalidPayload as exc:
            raise BadRequest("the webhook body is not what Twilio sends", fields=exc.fields) from None


class TwilioSmsChannel:
    name = "sms"
    max_text_len = 1600  # Twilio's limit for one message body
    rate_per_sec = 1.0  # per sending number; Twilio queues above its own long-code rate

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.conf = settings.channels.twilio
        self.verifier = TwilioVerifier(self.conf)
        self.keywords = keywords(self.conf)

    def number(self, fields: SmsFields) -> tuple[str, TwilioNumber]:
        """The configured district number the text reached; an unknown one files under the first configured."""
        name = self.conf.number_for(fields.to, fields.messaging_service_sid)
        if name is None:
            name = next(iter(self.conf.numbers))
            log.warning("text to a number that is not configured", extra={"filed_under": name})
        return name, self.conf.numbers[name]

    async def receive(self, req: InboundRequest) -> Received:
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
            thread_hints=ThreadHints(force_new=force_new),
            flags=Flags(
                opt_out=kind == "opt_out",
                opt_in=kind == "opt_in",
                help=kind == "help",
                status_request=kind == "status",
            ),
        )

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        return received.ack

    def deliver(self, reply: Reply) -> str:
        """Send now from the first configured number. Replies to a conversation go through workers.sms_replies,
        which picks the number the family texted and applies consent, quiet hours and rate limits first."""
        number = next(iter(self.conf.numbers.values()))
        return send_sms(self.conf, to=reply.recipient, body=reply.text, number=number, status_callback="")


def is_consent_event(flags: Flags) -> bool:
    """STOP/START/HELP/STATUS are answered by the gateway itself: no ticket (DESIGN.md 3.3)."""
    return flags.opt_out or flags.opt_in or flags.help or flags.status_request
