"""Property tests of the Meta (Messenger, Instagram, WhatsApp) and X webhook parsers: any body is a batch of messages,
receipts and ignored events, or InvalidPayload (answered 400), never another exception."""

from __future__ import annotations

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from normalizers.meta import InvalidPayload, MetaBatch, parse_batch
from normalizers.x import XBatch, parse_activity
from tests.normalizers.fuzzing import FUZZ, JSON_VALUES, load_json, mutated

META = [load_json("meta", n) for n in ("messenger_batch.json", "messenger_text.json", "instagram_messages.json",
                                        "whatsapp_media.json", "whatsapp_other_kinds.json", "whatsapp_statuses.json",
                                        "whatsapp_text.json")]  # fmt: skip
META_KEYS = st.sampled_from(["object", "entry", "messaging", "changes", "field", "value", "messages", "statuses",
                             "contacts", "message", "sender", "text", "attachments", "payload", "type", "id", "from",
                             "timestamp", "is_echo", "errors", "image", "interactive", "location"])  # fmt: skip
X_KEYS = st.sampled_from(["for_user_id", "direct_message_events", "users", "message_create", "message_data",
                          "sender_id", "entities", "urls", "attachment", "media", "created_timestamp",
                          "type"])  # fmt: skip
X = {
    "for_user_id": "4337869213",
    "users": {"9001": {"id": "9001", "name": "Ana Pérez", "screen_name": "anaperez"}},
    "direct_message_events": [
        {
            "type": "message_create",
            "id": "1630000000000000001",
            "created_timestamp": "1700000000000",
            "message_create": {
                "target": {"recipient_id": "4337869213"},
                "sender_id": "9001",
                "message_data": {
                    "text": "The bus did not come https://t.co/abc https://t.co/pic",
                    "entities": {"urls": [{"url": "https://t.co/abc", "expanded_url": "https://lhs.example.org/bus"}]},
                    "attachment": {"type": "media", "media": {"type": "photo", "url": "https://t.co/pic",
                                                              "media_url_https": "https://pbs.twimg.com/x.jpg"}},
                },
            },
        }
    ],
}  # fmt: skip


def _bytes(value: object) -> bytes:
    return orjson.dumps(value)


BODIES = st.binary(max_size=200) | JSON_VALUES.map(_bytes)


@FUZZ
@given(BODIES | st.one_of(*(mutated(m, keys=META_KEYS) for m in META)).map(_bytes))
@example(b'{"object": "page", "entry": [{"messaging": [{"timestamp": 1e308, "sender": {"id": 1}, "message": {}}]}]}')
@example(b"[" * 2000 + b"]" * 2000)  # orjson's own nesting limit
def test_any_meta_body_is_a_batch_or_invalid(raw: bytes) -> None:
    try:
        batch = parse_batch(raw)
    except InvalidPayload as exc:
        assert exc.fields
        return
    assert isinstance(batch, MetaBatch)
    for m in batch.messages:
        assert m.sender_id and m.message_id and (m.text or m.media)


@FUZZ
@given(BODIES | mutated(X, keys=X_KEYS).map(_bytes))
@example(
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "e", "created_timestamp": '
    b'"1e999", "message_create": {"sender_id": "2", "message_data": {"text": "hi"}}}]}'
)
@example(
    orjson.dumps(
        {
            **X,
            "direct_message_events": [
                {
                    **X["direct_message_events"][0],
                    "message_create": {
                        "sender_id": "9001",
                        "message_data": {"text": "hi", "entities": {"urls": [{"url": False, "expanded_url": "x"}]}},
                    },
                }
            ],
        }
    )
)
def test_any_x_body_is_a_batch_or_invalid(raw: bytes) -> None:
    try:
        batch = parse_activity(raw)
    except InvalidPayload as exc:
        assert exc.fields
        return
    assert isinstance(batch, XBatch)
    for m in batch.messages:
        assert m.event_id and m.sender_id and (m.text or m.media)
