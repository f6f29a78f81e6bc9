"""Notes the gateway itself writes on a ticket: a reply the family never received, or how a channel got it to them."""

from __future__ import annotations

from typing import Any

from gateway import keys
from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.store.redis_conn import text
from workers import context


def _internal_note(conv_id: str, text_: str, idempotency_key: str) -> str:
    r = context.connection()
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv_id)).items()}
    ref, backend = conv.get("ticket_ref"), conv.get("backend") or context.settings().backends.default
    if not ref:
        return "no ticket"
    message = InboundMessage(id=new_id(), channel=conv.get("channel") or "webform", account=conv.get("account", ""),
                             sender="intake-gateway", requester=Requester(display_name="Intake Gateway"),
                             text=text_)  # fmt: skip
    commitment = Commitment(
        message=message, fingerprint=idempotency_key, conversation=conv_id, route=Route(backend=backend)
    )
    context.backend(backend).add_comment(ref, commitment, idempotency_key=idempotency_key, public=False)
    return "noted"


def note(payload: dict[str, Any]) -> str:
    """An internal note a channel wrote for staff (why a reply went out another way), once per key.

    `payload`: `conversation`, `key` and `text`; the text names no person (no number, no address).
    """
    return _internal_note(str(payload["conversation"]), str(payload["text"]), f"note-{payload['key']}")


def note_undelivered(payload: dict[str, Any]) -> str:
    """Put on the ticket that the family did not get a reply (a permanent failure), once per failed message.

    An internal note: it is for staff, so they reach the family another way; it never goes out to anyone.
    """
    conv_id, key = str(payload["conversation"]), str(payload["key"])
    what = payload.get("what") or "text"  # the channel's word for what it sends; the first payloads were all texts
    text_ = (
        f"The family did not receive the {what} ({payload.get('reply_event') or 'update'}): "
        f"error {payload.get('error_code') or 'unknown'}. Reach them another way."
    )
    return _internal_note(conv_id, text_, f"undelivered-{key}")
