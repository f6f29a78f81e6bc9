"""Twilio webhook payloads -> fields: pure functions, no I/O.

Shapes follow Twilio's documented webhook parameters (see tests/payloads/twilio/NOTES.md): inbound
messages (MessageSid, From, To, Body, NumMedia, MediaUrlN, MediaContentTypeN, MessagingServiceSid),
message status callbacks (MessageSid, MessageStatus, ErrorCode) and voice recordings (CallSid,
RecordingSid, RecordingUrl, TranscriptionText).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from normalizers.phone import is_e164
from normalizers.text import clean_text

Keyword = Literal["opt_out", "opt_in", "help", "status", "new"]
MAX_MEDIA = 10  # Twilio delivers at most 10 media items per MMS
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_SPACE = re.compile(r"\s+")
# ASCII digits only, and few: str.isdigit() also takes '²' or '٣', which int() then refuses.
_COUNT = re.compile(r"[0-9]{1,9}")
# Twilio's delivery states in the order a message moves through them; a later one never goes back.
DELIVERY_ORDER = {
    "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
    "receiving": 3, "received": 4, "delivered": 5, "read": 6, "undelivered": 5, "failed": 5, "canceled": 5,
}  # fmt: skip
FINAL_FAILURES = {"undelivered", "failed"}


class InvalidPayload(ValueError):
    """The payload is not what Twilio sends: `fields` names what is missing or wrong."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__("invalid Twilio payload: " + ", ".join(fields))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class MediaRef:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class SmsFields:
    message_sid: str
    account_sid: str
    sender: str
    to: str
    messaging_service_sid: str
    body: str
    media: tuple[MediaRef, ...]


@dataclass(frozen=True, slots=True)
class DeliveryFields:
    message_sid: str
    status: str
    error_code: str


@dataclass(frozen=True, slots=True)
class RecordingFields:
    call_sid: str
    recording_sid: str
    recording_url: str
    sender: str
    to: str
    duration_s: int
    transcription: str


def _unquote_plus(part: str) -> str:
    # Most of a webhook's names and values have nothing to decode; those skip the two calls.
    if "+" in part or "%" in part:
        return unquote(part.replace("+", " "), errors="replace")
    return part


class FormParams(dict[str, str]):
    """A form body's parameters: one value per name for reading, every value of a repeated name kept for the
    signature. Twilio repeats a name in some webhooks (and its SDK signs each value), so a signature check
    that saw only one value would refuse a genuine webhook.

    `getall` is the multi-dict method Twilio's RequestValidator looks for first: with a plain dict it falls
    back through two AttributeErrors per parameter, which costs more than the HMAC itself."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.repeated: dict[str, list[str]] = {}  # empty for nearly every webhook: only names seen twice
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        if name in self:
            self.repeated.setdefault(name, [self[name]]).append(value)
        self[name] = value  # a repeated name reads as its last value, as urllib's dict(parse_qsl(...)) does

    def getall(self, name: str) -> list[str]:
        return self.repeated.get(name) or [self[name]]


def parse_form(body: bytes) -> FormParams:
    """An application/x-www-form-urlencoded body. A repeated name reads as its last value; `getall` has them all.

    What urllib's parse_qsl(keep_blank_values=True, strict_parsing=True) reads, without its per-field overhead:
    a field without "=" (an empty one included) is malformed, and undecodable escapes become U+FFFD."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload(["body (expected form-encoded UTF-8)"]) from None
    params = FormParams()
    if not text:
        return params
    for field in text.split("&"):
        name, eq, value = field.partition("=")
        if not eq:
            raise InvalidPayload(["body (expected form-encoded UTF-8)"])
        name = _unquote_plus(name)
        if name in params:
            params.add(name, _unquote_plus(value))
        else:
            params[name] = _unquote_plus(value)
    return params


def parse_json(body: bytes) -> dict[str, str]:
    """A JSON webhook body: an object whose values are scalars, read as Twilio's form parameters."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # undecodable, malformed, an integer past 4,300 digits, nested too deep
        raise InvalidPayload(["body (expected a JSON object)"]) from None
    if not isinstance(data, dict):
        raise InvalidPayload(["body (expected a JSON object)"])
    return {str(k): "" if v is None else str(v) for k, v in data.items() if not isinstance(v, dict | list)}


def _require(params: Mapping[str, str], names: Iterable[str], wrong: list[str]) -> None:
    wrong.extend(n for n in names if not params.get(n))


def sms_fields(params: Mapping[str, str]) -> SmsFields:
    """An inbound SMS/MMS webhook's fields. Raises InvalidPayload naming every missing or malformed field."""
    wrong: list[str] = []
    _require(params, ("MessageSid", "AccountSid", "From", "To"), wrong)
    sid = params.get("MessageSid", "")
    if sid and not _SID.match(sid):
        wrong.append("MessageSid")
    raw_count = params.get("NumMedia", "0") or "0"
    count = int(raw_count) if _COUNT.fullmatch(raw_count) else -1
    if not 0 <= count <= MAX_MEDIA:
        wrong.append("NumMedia")
        count = 0
    media = []
    for i in range(count):
        url = params.get(f"MediaUrl{i}", "")
        if not url:
            wrong.append(f"MediaUrl{i}")
            continue
        media.append(MediaRef(url, params.get(f"MediaContentType{i}", "application/octet-stream")))
    if wrong:
        raise InvalidPayload(sorted(set(wrong)))
    return SmsFields(
        message_sid=sid,
        account_sid=params["AccountSid"],
        sender=params["From"].strip(),
        to=params["To"].strip(),
        messaging_service_sid=params.get("MessagingServiceSid", ""),
        body=clean_text(params.get("Body", "")),
        media=tuple(media),
    )


def delivery_fields(params: Mapping[str, str]) -> DeliveryFields:
    wrong: list[str] = []
    _require(params, ("MessageSid", "MessageStatus"), wrong)
    status = params.get("MessageStatus", "").lower()
    if status and status not in DELIVERY_ORDER:
        wrong.append("MessageStatus")
    if wrong:
        raise InvalidPayload(wrong)
    # Twilio's error codes are numbers: anything else is no code (it was stored, then given to int() when read).
    code = params.get("ErrorCode", "")
    return DeliveryFields(params["MessageSid"], status, code if _COUNT.fullmatch(code) else "")


def recording_fields(params: Mapping[str, str]) -> RecordingFields:
    wrong: list[str] = []
    _require(params, ("CallSid", "RecordingSid", "RecordingUrl", "From", "To"), wrong)
    if wrong:
        raise InvalidPayload(wrong)
    raw = params.get("RecordingDuration", "0") or "0"
    return RecordingFields(
        call_sid=params["CallSid"],
        recording_sid=params["RecordingSid"],
        recording_url=params["RecordingUrl"],
        sender=params["From"].strip(),
        to=params["To"].strip(),
        duration_s=int(raw) if _COUNT.fullmatch(raw) else 0,
        transcription=clean_text(params.get("TranscriptionText", "")),
    )


def is_phone(value: str) -> bool:
    """A caller id that is a real E.164 number (Twilio sends 'Anonymous' or a client id otherwise)."""
    return is_e164(value)


def _fold(text: str) -> str:
    return _SPACE.sub(" ", text.strip()).casefold()


# The language a keyword is written in, when it says so: a parent who texts AYUDA gets the help in Spanish.
KEYWORD_LANGUAGE = {
    "parar": "es", "alto": "es", "detener": "es", "cancelar": "es", "iniciar": "es", "ayuda": "es",
    "nuevo": "es", "nueva": "es", "estado": "es", "mới": "vi", "trạng thái": "vi", "新": "zh", "状态": "zh",
}  # fmt: skip


def keyword_language(body: str) -> str | None:
    return KEYWORD_LANGUAGE.get(_fold(body).rstrip(".!"))


MAX_KEYWORD_CHARS = 40  # a keyword message is one or two words; anything longer is a request


@dataclass(frozen=True)
class Keywords:
    """The configured keyword words, each list in any language; matched on the whole message."""

    opt_out: tuple[str, ...]
    opt_in: tuple[str, ...]
    help: tuple[str, ...]
    status: tuple[str, ...]
    new: tuple[str, ...]

    def __post_init__(self) -> None:
        table: dict[str, Keyword] = {}
        groups: tuple[tuple[Keyword, tuple[str, ...]], ...] = (
            ("opt_out", self.opt_out), ("opt_in", self.opt_in), ("help", self.help),
            ("status", self.status), ("new", self.new),
        )  # fmt: skip
        for kind, words in groups:
            for w in words:
                table.setdefault(_fold(w), kind)
        object.__setattr__(self, "_table", table)

    def classify(self, body: str) -> Keyword | None:
        """Which keyword the whole message is (any case, surrounding spaces and a final period ignored), if any.

        "Stop the bus from leaving early" is a request: only a message that is nothing but the word counts.
        """
        if len(body) > MAX_KEYWORD_CHARS:
            return None
        table: dict[str, Keyword] = self._table  # type: ignore[attr-defined]
        return table.get(_fold(body).rstrip(".!"))

    def split_new(self, body: str) -> str | None:
        """The rest of a message that starts with a NEW keyword ("NEW my bus is late" -> "my bus is late")."""
        head, _, rest = body.strip().partition(" ")
        table: dict[str, Keyword] = self._table  # type: ignore[attr-defined]
        if table.get(_fold(head).rstrip(":.,!")) == "new" and rest.strip():
            return rest.strip()
        return None
