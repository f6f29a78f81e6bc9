"""X's Account Activity webhooks -> the fields of each direct message: pure, no I/O.

A POST carries `for_user_id` (the district's subscribed account) and one kind of activity; the
direct messages are `direct_message_events[]` of `type: message_create`, each with its event `id`,
`created_timestamp` (milliseconds), `message_create.sender_id`, `target.recipient_id` and
`message_data` (`text`, `entities.urls` with their expanded form, an optional `attachment.media`),
and the people named are described in `users{id: {name, screen_name}}`. A message the district's
own account sent comes back the same way: it is an echo, never a request. Every other activity
(posts, likes, follows, typing, read receipts) is named and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from normalizers.meta import InvalidPayload, _list, _obj

MEDIA_KINDS = {"photo": "image", "video": "video", "animated_gif": "video"}


@dataclass(frozen=True, slots=True)
class XMedia:
    kind: str  # image, video
    url: str


@dataclass(frozen=True, slots=True)
class XMessage:
    account_id: str  # the subscribed account (for_user_id)
    event_id: str
    sender_id: str
    sender_name: str
    screen_name: str
    timestamp: float  # seconds since the epoch
    text: str
    media: tuple[XMedia, ...] = ()


@dataclass(frozen=True, slots=True)
class XBatch:
    messages: tuple[XMessage, ...] = ()
    ignored: tuple[str, ...] = ()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def parse_activity(raw: bytes) -> XBatch:
    """Every direct message and ignored activity of one webhook body (already verified)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidPayload(["body (not JSON)"]) from None
    if not isinstance(body, dict):
        raise InvalidPayload(["body (not an object)"])
    account = _str(body.get("for_user_id"))
    if not account:
        raise InvalidPayload(["for_user_id"])
    users = _obj(body.get("users"))
    messages: list[XMessage] = []
    ignored: list[str] = []
    for kind, value in body.items():
        if kind in ("for_user_id", "users", "apps", "user_has_blocked"):
            continue
        if kind != "direct_message_events" or not isinstance(value, list):
            ignored.append(kind.removesuffix("_events") if kind.endswith("_events") else "unsupported")
            continue
        for event in value:
            found = dm_event(account, users, event) if isinstance(event, dict) else "malformed"
            if isinstance(found, str):
                ignored.append(found)
            else:
                messages.append(found)
    return XBatch(tuple(messages), tuple(ignored))


def dm_event(account: str, users: dict[str, Any], event: dict[str, Any]) -> XMessage | str:
    if event.get("type") != "message_create":
        return "unsupported"
    create = _obj(event.get("message_create"))
    data = _obj(create.get("message_data"))
    event_id, sender = _str(event.get("id")), _str(create.get("sender_id"))
    if not event_id or not sender:
        return "malformed"
    if sender == account:
        return "echo"  # sent by the district's account (our own reply, or staff writing in X itself)
    text = _str(data.get("text"))
    entities = _obj(data.get("entities"))
    for link in _list(entities.get("urls")):
        short, expanded = _obj(link).get("url"), _obj(link).get("expanded_url")
        if short and isinstance(short, str) and isinstance(expanded, str) and expanded:  # not _str: `false` is an int
            text = text.replace(short, expanded)
    media: tuple[XMedia, ...] = ()
    attachment = _obj(data.get("attachment"))
    item = _obj(attachment.get("media"))
    if item:
        # The text ends with the media's own short link: the file is listed on the ticket instead.
        text = text.replace(_str(item.get("url")), "").strip() if _str(item.get("url")) else text
        url = _str(item.get("media_url_https"))
        if url:
            media = (XMedia(MEDIA_KINDS.get(_str(item.get("type")), "image"), url),)
    if not text and not media:
        return "empty"
    person = _obj(users.get(sender))
    try:
        at = float(_str(event.get("created_timestamp")) or 0) / 1000
    except ValueError:
        at = 0.0
    return XMessage(
        account, event_id, sender, _str(person.get("name")), _str(person.get("screen_name")), at, text, media
    )
