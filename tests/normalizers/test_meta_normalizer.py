"""normalizers.meta against the recorded payloads in tests/payloads/meta/ (see its NOTES.md)."""

from __future__ import annotations

import pytest

from normalizers.meta import InvalidPayload, Media, parse_batch
from tests.support.gateway import REPO

PAYLOADS = REPO / "tests" / "payloads" / "meta"


def load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_a_messenger_text() -> None:
    batch = parse_batch(load("messenger_text.json"))
    [m] = batch.messages
    assert (m.product, m.account_id, m.sender_id) == ("messenger", "104200000000001", "7100000000000001")
    assert m.message_id == "m_AbCdEf0123456789messenger-text-1"
    assert m.text == "The bus for Jefferson Elementary did not come this morning."
    assert m.timestamp == pytest.approx(1764581399.876)
    assert batch.ignored == () and batch.statuses == ()


def test_a_batch_keeps_every_message_of_every_entry_and_names_what_it_ignores() -> None:
    batch = parse_batch(load("messenger_batch.json"))
    assert [m.message_id for m in batch.messages] == ["m_batch-photo-1", "m_batch-text-2", "m_batch-file-2"]
    photo, text, filed = batch.messages
    assert photo.media == (Media("image", url=photo.media[0].url),) and photo.text == ""
    assert photo.media[0].url.startswith("https://scontent.xx.fbcdn.net/")
    assert text.text == "¿A qué hora abre la oficina de inscripción?"
    assert [m.kind for m in filed.media] == ["document"]
    assert filed.text == "Here is the form\n[fallback: https://www.example.org/school-calendar]"
    assert sorted(batch.ignored) == ["delivery", "echo", "reaction", "read"]


def test_instagram_uses_the_same_shape_under_its_own_account() -> None:
    batch = parse_batch(load("instagram_messages.json"))
    assert [m.product for m in batch.messages] == ["instagram", "instagram"]
    assert batch.messages[0].account_id == "17841400000000001"
    assert batch.messages[1].text.startswith("[story_mention: https://lookaside.fbsbx.com/")
    assert batch.ignored == ("deleted",)


def test_a_whatsapp_text_names_its_sender_and_number() -> None:
    [m] = parse_batch(load("whatsapp_text.json")).messages
    assert (m.product, m.account_id, m.sender_id, m.profile_name) == (
        "whatsapp", "106540000000001", "15552013344", "Lan Tran",
    )  # fmt: skip
    assert m.message_id.startswith("wamid.") and m.timestamp == 1764581700
    assert m.text.startswith("Con tôi bị ốm hôm nay")


def test_whatsapp_media_are_ids_with_their_types_captions_and_names() -> None:
    image, audio, document, video = parse_batch(load("whatsapp_media.json")).messages
    assert image.media == (Media("image", media_id="1480000000000001", mime_type="image/jpeg"),)
    assert image.text == "The broken window in room 12"
    assert audio.media[0].voice and audio.media[0].mime_type == "audio/ogg"  # the codecs parameter dropped
    assert document.media[0].filename == "lease.pdf" and document.text == "Proof of address"
    assert video.media[0].kind == "video" and video.text == ""


def test_other_whatsapp_kinds() -> None:
    batch = parse_batch(load("whatsapp_other_kinds.json"))
    location, unsupported, button = batch.messages
    assert location.text == "[location: 30.2672, -97.7431 (Bus stop 14, Main St and 3rd)]"
    assert "cannot show: unsupported" in unsupported.text  # the family still wrote: never dropped
    assert button.text == "Yes, please call me"
    assert sorted(batch.ignored) == ["reaction", "unsupported_field"]


def test_whatsapp_receipts() -> None:
    batch = parse_batch(load("whatsapp_statuses.json"))
    assert batch.messages == ()
    assert [(s.message_id, s.status, s.error_code) for s in batch.statuses] == [
        ("wamid.ours-delivered-1", "delivered", 0),
        ("wamid.ours-failed-2", "failed", 131047),
    ]


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (b"{", ["body (not JSON)"]),
        (b"[]", ["object"]),
        (b'{"object": "page"}', ["entry"]),
        (b'{"entry": []}', ["object"]),
    ],
)
def test_a_body_that_is_no_webhook(raw: bytes, fields: list[str]) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_batch(raw)
    assert exc.value.fields == fields


def test_a_malformed_event_is_skipped_and_the_rest_of_the_batch_kept() -> None:
    raw = (
        b'{"object": "page", "entry": [{"id": "1", "messaging": ['
        b'{"sender": {"id": "7"}, "timestamp": 1, "message": {"text": "no mid"}},'
        b'"not an event",'
        b'{"sender": {"id": "7"}, "timestamp": 2, "message": {"mid": "m_ok", "text": "fine"}}]}, 5]}'
    )
    batch = parse_batch(raw)
    assert [m.message_id for m in batch.messages] == ["m_ok"]
    assert batch.ignored == ("malformed", "malformed", "malformed")
