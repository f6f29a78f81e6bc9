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
from collections.abc import Mapping
from functools import lru_cache
from hashlib import sha1
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

from gateway.errors import BadRequest, Forbidden
from gateway.server.http import InboundRequest
from gateway.settings import TwilioSettings
from normalizers.twilio_sms import FormParams, InvalidPayload, parse_form, parse_json

log = logging.getLogger("intake.channels.twilio")


# A probe the SDK's compute_signature must agree with before our own computation may accept anything: a
# repeated name (values out of order and one twice) included, since the SDK signs each distinct value sorted.
_PROBE_URL = "https://example.org/hooks/twilio/sms?x=1"
_PROBE_PARAMS = [("Body", "¿Llegó? ok+ & ="), ("From", "+15550000000"), ("NumMedia", "0"), ("Empty", ""), ("A", "z"),
                 ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]  # fmt: skip


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
        probe = FormParams(_PROBE_PARAMS)
        single = FormParams(p for p in _PROBE_PARAMS if p[0] != "Digits")
        self._fast = all(
            self.signature_for(_PROBE_URL, params) == self.validator.compute_signature(_PROBE_URL, params)
            for params in (probe, single)
        )
        if not self._fast:
            log.warning("the twilio SDK signs differently than expected: every webhook is checked by the SDK alone")

    def _mac_over_url(self, url: str) -> hmac.HMAC:
        return hmac.new(self.validator.token, url.encode("utf-8"), sha1)

    def signature_for(self, url: str, params: Mapping[str, str]) -> str:
        """What RequestValidator.compute_signature(url, params) returns: each name sorted, then each of its
        distinct values sorted (a FormParams carries a repeated name's values)."""
        mac = self._keyed_url(url).copy()
        repeated = params.repeated if isinstance(params, FormParams) else None
        if repeated:
            signed = [
                name + value for name in sorted(params) for value in sorted(set(repeated.get(name) or [params[name]]))
            ]
        else:  # nearly every webhook: one value per name
            signed = [name + params[name] for name in sorted(params)]
        mac.update("".join(signed).encode("utf-8"))
        return binascii.b2a_base64(mac.digest(), newline=False).decode("ascii")

    def verified_params(self, req: InboundRequest) -> dict[str, str]:
        signature = req.header("x-twilio-signature")
        if not signature:
            raise Forbidden("missing X-Twilio-Signature")
        ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
        if ctype == "application/json":
            return self._json(req, signature)
        try:
            params = parse_form(req.raw_body)
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
