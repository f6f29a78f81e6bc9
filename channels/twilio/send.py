"""Talking to Twilio's REST API with the official client: sending texts, finding a sent text, deleting media.

`channels.twilio.api_base_url` (TWILIO_API_BASE_URL) points the client elsewhere (a local stand-in
in tests). The library's documented way to change how requests go out is a custom HttpClient passed
to `Client` (twilio-python's advanced-examples/custom-http-client.md); ours subclasses the stock
TwilioHttpClient and only swaps the scheme and host of each URL, so every request keeps the
library's own paths, parameters, auth and error handling.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from gateway.settings import TwilioNumber, TwilioSettings

# The library logs every request's URL and query (phone numbers) at INFO: keep it to warnings.
_quiet = logging.getLogger("intake.twilio.http")
_quiet.setLevel(logging.WARNING)

# Errors after which sending again can never succeed: the number is marked and the ticket says so.
OPTED_OUT = 21610
PERMANENT_ERRORS = {21211, 21214, 21408, 21610, 21612, 21614, 30003, 30004, 30005, 30006, 30007, 30008}


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """TwilioHttpClient sending every request to `base` instead of https://<product>.twilio.com."""

    def __init__(self, base: str, timeout: float, ca_file: str = "") -> None:
        super().__init__(timeout=timeout, logger=_quiet)
        parts = urlsplit(base)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        if ca_file and self.session is not None:
            self.session.verify = ca_file  # requests' own setting for a private CA...
            self.session.trust_env = False  # ...which REQUESTS_CA_BUNDLE would otherwise replace

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        moved = urlunsplit((self.scheme, self.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, moved, params, data, headers, auth, timeout, allow_redirects)


def client(conf: TwilioSettings) -> Client:
    if conf.api_base_url:
        http = BaseUrlHttpClient(conf.api_base_url, conf.api_timeout_s, ca_file=conf.ca_file)
    else:
        http = TwilioHttpClient(timeout=conf.api_timeout_s)
    return Client(conf.account_sid, conf.auth_token.get_secret_value(), http_client=http)


def send_sms(conf: TwilioSettings, *, to: str, body: str, number: TwilioNumber, status_callback: str) -> str:
    """Create one message; return its MessageSid. Raises TwilioRestException as the API answered."""
    kwargs: dict[str, Any] = {"to": to, "body": body}
    if number.messaging_service_sid:
        kwargs["messaging_service_sid"] = number.messaging_service_sid
    else:
        kwargs["from_"] = number.number
    if status_callback:
        kwargs["status_callback"] = status_callback
    message = client(conf).messages.create(**kwargs)
    return str(message.sid)


def find_sent(conf: TwilioSettings, *, to: str, body: str, since: datetime) -> str | None:
    """The sid of a message to `to` with this exact body sent at or after `since`, if Twilio has one.

    After an ambiguous failure (a timeout, a 5xx) the text may have gone out: we look before sending again.
    """
    for m in client(conf).messages.list(to=to, date_sent_after=since, limit=50):
        if m.body == body and m.direction != "inbound":
            return str(m.sid)
    return None


def delete_media(conf: TwilioSettings, message_sid: str, media_sid: str) -> bool:
    """Delete a fetched picture at Twilio (personal data). False when Twilio no longer has it."""
    try:
        return bool(client(conf).messages(message_sid).media(media_sid).delete())
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise


def is_permanent(exc: TwilioRestException) -> bool:
    return exc.code is not None and int(exc.code) in PERMANENT_ERRORS


def is_ambiguous(exc: BaseException) -> bool:
    """A failure after which the text may or may not have been created at Twilio."""
    if isinstance(exc, TwilioRestException):
        return int(exc.status) >= 500
    return True  # a timeout or a dropped connection: the request may have arrived
