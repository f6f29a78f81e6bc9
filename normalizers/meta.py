"""Meta's webhooks (Messenger, Instagram, WhatsApp Cloud API) -> the fields of each message: pure, no I/O.

One POST to `/hooks/meta` carries one product (`object`: `page`, `instagram` or
`whatsapp_business_account`) and any number of `entry` items, each with several events:
- Messenger and Instagram: `entry[].messaging[]`, one event each: a `message` (text and `attachments`),
  or something that is no request (an echo of our own send, `read`, `delivery`, `reaction`, `postback`,
  an edit, an unsent message);
- WhatsApp: `entry[].changes[]` with `field: messages`, whose `value` carries `messages[]` (with the
  senders' `contacts[]` and the receiving number in `metadata`) and `statuses[]` (receipts of ours).
Every message keeps its own id (`mid`, `wamid`): a retried or duplicated delivery is recognised by it.
A malformed event is skipped and named (`malformed`); the rest of the batch still counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

Product = Literal["messenger", "instagram", "whatsapp"]
OBJECTS: dict[str, Product] = {"page": "messenger", "instagram": "instagram", "whatsapp_business_account": "whatsapp"}
WHATSAPP_MEDIA = ("image", "audio", "video", "document", "sticker")
MESSENGER_MEDIA = {"image": "image", "audio": "audio", "video": "video", "file": "document"}
# WhatsApp delivery states in the order they happen; a receipt is applied only when it moves forward.
WHATSAPP_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class InvalidPayload(ValueError):
    """The body is not a Meta webhook at all: `fields` names what is missing or wrong."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Media:
    kind: str  # image, audio, video, document, sticker
    url: str = ""  # Messenger and Instagram: the file's CDN address
    media_id: str = ""  # WhatsApp: resolved by a worker to a short-lived URL
    mime_type: str = ""
    filename: str = ""
    voice: bool = False


@dataclass(frozen=True, slots=True)
class MetaMessage:
    product: Product
    account_id: str  # the page id, the Instagram account id, or the WhatsApp phone number id
    sender_id: str  # PSID, IGSID or wa_id
    profile_name: str
    message_id: str  # mid or wamid
    timestamp: float  # when the person sent it, seconds since the epoch
    text: str
    media: tuple[Media, ...] = ()


@dataclass(frozen=True, slots=True)
class WhatsAppStatus:
    message_id: str
    status: str
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class MetaBatch:
    product: Product | None  # None for an object we do not take (a page's feed, permissions)
    messages: tuple[MetaMessage, ...] = ()
    statuses: tuple[WhatsAppStatus, ...] = ()
    ignored: tuple[str, ...] = ()


def parse_batch(raw: bytes) -> MetaBatch:
    """Every message, receipt and ignored event of one webhook body (already verified)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidPayload(["body (not JSON)"]) from None
    if not isinstance(body, dict) or not isinstance(body.get("object"), str):
        raise InvalidPayload(["object"])
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise InvalidPayload(["entry"])
    product = OBJECTS.get(body["object"])
    if product is None:
        return MetaBatch(None, ignored=("unsupported_object",))
    out = _Collector()
    for entry in entries:
        if not isinstance(entry, dict):
            out.ignored.append("malformed")
        elif product == "whatsapp":
            _whatsapp_entry(entry, out)
        else:
            _messaging_entry(product, entry, out)
    return MetaBatch(product, tuple(out.messages), tuple(out.statuses), tuple(out.ignored))


class _Collector:
    def __init__(self) -> None:
        self.messages: list[MetaMessage] = []
        self.statuses: list[WhatsAppStatus] = []
        self.ignored: list[str] = []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else: a sender's odd field never stops the rest of the batch."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _seconds(value: Any, scale: float) -> float:
    try:
        return float(value) / scale
    except (TypeError, ValueError):
        return 0.0


# --- Messenger and Instagram ------------------------------------------------------------------------------


def _messaging_entry(product: Product, entry: dict[str, Any], out: _Collector) -> None:
    account = _str(entry.get("id"))
    events = entry.get("messaging")
    if not isinstance(events, list):
        # Instagram comments and mentions arrive as `changes`: not direct messages.
        out.ignored.append("unsupported_field")
        return
    for event in events:
        found = messaging_event(product, account, event) if isinstance(event, dict) else "malformed"
        if isinstance(found, str):
            out.ignored.append(found)
        else:
            out.messages.append(found)


def messaging_event(product: Product, account: str, event: dict[str, Any]) -> MetaMessage | str:
    """One Messenger or Instagram event: a message, or the reason it is none."""
    for kind in ("read", "delivery", "reaction", "postback", "message_edit", "optin", "referral"):
        if kind in event:
            return kind.removeprefix("message_")
    message = event.get("message")
    sender = _str(_obj(event.get("sender")).get("id"))
    if not isinstance(message, dict) or not sender:
        return "malformed"
    if message.get("is_echo"):
        return "echo"  # our own reply, sent through the page, coming back
    if message.get("is_deleted"):
        return "deleted"
    mid = _str(message.get("mid"))
    if not mid:
        return "malformed"
    text = _str(message.get("text"))
    media: list[Media] = []
    notes: list[str] = []
    for att in _list(message.get("attachments")):
        if not isinstance(att, dict):
            continue
        kind = _str(att.get("type"))
        payload = _obj(att.get("payload"))
        url = _str(payload.get("url"))
        if kind in MESSENGER_MEDIA and url:
            media.append(Media(MESSENGER_MEDIA[kind], url=url))
        elif kind == "location" and _obj(payload.get("coordinates")):
            c = _obj(payload.get("coordinates"))
            notes.append(f"[location: {c.get('lat')}, {c.get('long')}]")
        else:
            # A shared post, a story mention, a reel: no file of the family's to keep; its link, when it has one.
            notes.append(f"[{kind or 'attachment'}{': ' + url if url else ''}]")
    text = "\n".join(t for t in (text, *notes) if t)
    if not text and not media:
        return "empty"
    return MetaMessage(product, account, sender, "", mid, _seconds(event.get("timestamp"), 1000), text, tuple(media))


# --- WhatsApp ---------------------------------------------------------------------------------------------


def _whatsapp_entry(entry: dict[str, Any], out: _Collector) -> None:
    for change in _list(entry.get("changes")):
        value = _obj(_obj(change).get("value"))
        if not value:
            out.ignored.append("malformed")
            continue
        if change.get("field") != "messages":
            out.ignored.append("unsupported_field")
            continue
        metadata = _obj(value.get("metadata"))
        number = _str(metadata.get("phone_number_id"))
        names = {
            _str(_obj(c).get("wa_id")): _str(_obj(_obj(c).get("profile")).get("name"))
            for c in _list(value.get("contacts"))
        }
        for msg in _list(value.get("messages")):
            found = whatsapp_message(number, names, msg) if isinstance(msg, dict) else "malformed"
            if isinstance(found, str):
                out.ignored.append(found)
            else:
                out.messages.append(found)
        for status in _list(value.get("statuses")):
            receipt = whatsapp_status(status) if isinstance(status, dict) else None
            if receipt is None:
                out.ignored.append("malformed")
            else:
                out.statuses.append(receipt)


def whatsapp_message(number: str, names: dict[str, str], msg: dict[str, Any]) -> MetaMessage | str:
    """One WhatsApp message: its text and media ids, or the reason it is no request."""
    kind, sender, wamid = _str(msg.get("type")), _str(msg.get("from")), _str(msg.get("id"))
    if not sender.isdigit() or not wamid:
        return "malformed"
    if kind in ("reaction", "system"):
        return kind
    body = _obj(msg.get(kind))
    media: tuple[Media, ...] = ()
    if kind == "text":
        text = _str(body.get("body"))
    elif kind in WHATSAPP_MEDIA:
        if not _str(body.get("id")):
            return "malformed"
        media = (
            Media(
                "image" if kind == "sticker" else kind,
                media_id=_str(body["id"]),
                mime_type=_str(body.get("mime_type")).split(";", 1)[0].strip(),
                filename=_str(body.get("filename")),
                voice=bool(body.get("voice")),
            ),
        )
        text = _str(body.get("caption"))
    elif kind == "location":
        where = ", ".join(_str(body.get(k)) for k in ("name", "address") if body.get(k))
        text = f"[location: {body.get('latitude')}, {body.get('longitude')}{' (' + where + ')' if where else ''}]"
    elif kind == "contacts":
        people = [_str(_obj(_obj(c).get("name")).get("formatted_name")) for c in _list(msg.get("contacts"))]
        text = f"[shared contact: {', '.join(p for p in people if p) or 'no name'}]"
    elif kind == "button":
        text = _str(body.get("text"))
    elif kind == "interactive":
        text = _str(_obj(body.get("button_reply") or body.get("list_reply")).get("title"))
    else:
        # A kind WhatsApp itself calls unsupported (a poll, a view-once photo): the family still wrote to us.
        text = f"[a WhatsApp message of a kind the gateway cannot show: {kind or 'unknown'}]"
    if not text and not media:
        return "empty"
    return MetaMessage(
        "whatsapp", number, sender, names.get(sender, ""), wamid, _seconds(msg.get("timestamp"), 1), text, media
    )


def whatsapp_status(status: dict[str, Any]) -> WhatsAppStatus | None:
    wamid, state = _str(status.get("id")), _str(status.get("status"))
    if not wamid or state not in WHATSAPP_ORDER:
        return None
    errors = _list(status.get("errors"))
    code = _obj(errors[0]).get("code") if errors else 0
    return WhatsAppStatus(wamid, state, code if isinstance(code, int) else 0)
