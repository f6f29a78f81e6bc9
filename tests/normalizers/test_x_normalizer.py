"""normalizers.x against the recorded Account Activity payloads in tests/payloads/x/ (see its NOTES.md)."""

from __future__ import annotations

import pytest

from normalizers.meta import InvalidPayload
from normalizers.x import XMedia, parse_activity
from tests.support.gateway import REPO

PAYLOADS = REPO / "tests" / "payloads" / "x"


def load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_a_direct_message_with_its_links_expanded() -> None:
    batch = parse_activity(load("dm_message.json"))
    [m] = batch.messages
    assert (m.account_id, m.event_id, m.sender_id) == ("1500000000000000001", "1864000000000000001", "2244000001")
    assert (m.sender_name, m.screen_name) == ("Rosa Alvarez", "rosa_alvarez_atx")
    assert m.text == "The lunch menu link is broken: https://district.example.org/lunch"
    assert m.timestamp == pytest.approx(1764581800.123)
    assert batch.ignored == ()


def test_the_accounts_own_message_is_an_echo_and_media_is_listed() -> None:
    batch = parse_activity(load("dm_echo_and_media.json"))
    [m] = batch.messages
    assert m.text == "This is the flooded hallway"  # the media's short link left out of the text
    assert m.media == (XMedia("image", m.media[0].url),)
    assert m.media[0].url.startswith("https://ton.twitter.com/")
    assert batch.ignored == ("echo",)


@pytest.mark.parametrize(("name", "reason"), [("typing_and_read.json", "direct_message_indicate_typing"),
                                              ("tweet_create.json", "tweet_create")])  # fmt: skip
def test_other_activities_are_named_and_ignored(name: str, reason: str) -> None:
    batch = parse_activity(load(name))
    assert batch.messages == () and batch.ignored == (reason,)


@pytest.mark.parametrize(("raw", "field"), [(b"nope", "body (not JSON)"), (b"[]", "body (not an object)"),
                                            (b'{"direct_message_events": []}', "for_user_id")])  # fmt: skip
def test_a_body_that_is_no_activity(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidPayload) as exc:
        parse_activity(raw)
    assert exc.value.fields == [field]
