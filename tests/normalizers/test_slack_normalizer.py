"""normalizers.slack against recorded payloads (tests/payloads/slack/NOTES.md says where each comes from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from normalizers.slack import (
    Ignored,
    SlackFields,
    event_fields,
    permalink_for,
    shortcut_fields,
    slack_text,
    status_action,
    team_of,
    view_fields,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slack"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def test_a_direct_message_is_a_request_threaded_under_itself() -> None:
    f = event_fields(load("event_dm.json"))
    assert isinstance(f, SlackFields)
    assert (f.kind, f.team, f.channel, f.user, f.provider_id) == (
        "dm",
        "T0DISTRICT",
        "D0TEACHER1",
        "U0TEACHER1",
        "Ev0DM00001",
    )
    assert (
        f.text
        == "The projector in room 204 at Lincoln High (https://lhs.example.org) shows no signal. Can someone come by?"
    )
    assert f.thread_ts == ""
    assert f.thread_root == "1700000000.000100"


def test_a_mention_loses_our_bot_tag_and_unescapes_slack_markup() -> None:
    f = event_fields(load("event_app_mention.json"))
    assert isinstance(f, SlackFields)
    assert f.kind == "mention"
    assert f.text == "the wifi in the library at #library keeps dropping & nobody can log in"


def test_a_reply_in_a_channel_thread_is_a_thread_reply_rooted_at_the_thread() -> None:
    f = event_fields(load("event_thread_reply.json"))
    assert isinstance(f, SlackFields)
    assert f.kind == "thread_reply"
    assert f.thread_root == "1700000300.000200"


def test_a_thread_reply_that_mentions_us_is_left_to_its_app_mention_event() -> None:
    body = load("event_thread_reply.json")
    body["event"]["text"] = "<@U0HELPDESK> still broken"
    assert event_fields(body) == Ignored("mention_counted_once")


def test_channel_chatter_outside_our_threads_is_not_a_request() -> None:
    body = load("event_thread_reply.json")
    del body["event"]["thread_ts"]
    assert event_fields(body) == Ignored("channel_chatter")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b: None, "own_or_bot_message"),
        (lambda b: b["event"].pop("subtype"), "own_or_bot_message"),  # a bot_id alone is enough
        (
            lambda b: (b["event"].pop("subtype"), b["event"].pop("bot_id"), b["event"].update(user="U0HELPDESK")),
            "own_or_bot_message",
        ),
    ],
)
def test_our_own_posts_never_become_requests(change: Any, reason: str) -> None:
    body = load("event_bot_message.json")
    change(body)
    assert event_fields(body) == Ignored(reason)


def test_an_edit_is_not_a_new_request() -> None:
    assert event_fields(load("event_message_changed.json")) == Ignored("not_a_person_writing")


def test_shared_files_are_listed_with_their_permalinks() -> None:
    f = event_fields(load("event_file_share.json"))
    assert isinstance(f, SlackFields)
    [file] = f.files
    assert (file.name, file.mimetype, file.size) == ("error.png", "image/png", 48213)
    assert file.permalink.endswith("/F0PHOTO001/error.png")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "event_callback", "team_id": "T0DISTRICT", "event_id": "Ev1"}, "missing_event"),
        ({"type": "event_callback", "event": "nope"}, "missing_event"),
        ({"type": "app_rate_limited"}, "unknown_type"),
        ({"type": "event_callback", "event": {"type": "reaction_added"}}, "unhandled_event"),
        ({"type": "event_callback", "event": {"type": "message", "text": "hi"}}, "missing_field"),
    ],
)
def test_malformed_envelopes_are_ignored_with_a_reason(body: dict[str, Any], reason: str) -> None:
    assert event_fields(body) == Ignored(reason)


def test_the_modal_submission_carries_category_school_urgency_and_files() -> None:
    f = view_fields(load("view_submission.json"))
    assert isinstance(f, SlackFields)
    assert (f.kind, f.category, f.school, f.urgency) == ("modal", "transportation", "lhs", "high")
    assert f.text == "Bus 14 was 40 minutes late again this morning."
    assert f.provider_id == "view:V0MODAL001"
    assert [x.name for x in f.files] == ["schedule.pdf"]
    assert f.channel == "U0TEACHER1"  # the answer goes to the requester's DM


def test_a_submission_of_another_view_is_ignored() -> None:
    body = load("view_submission.json")
    body["view"]["callback_id"] = "something_else"
    assert view_fields(body) == Ignored("unknown_view")


def test_the_message_shortcut_makes_a_request_for_the_message_author_with_its_permalink() -> None:
    f = shortcut_fields(load("message_action.json"))
    assert isinstance(f, SlackFields)
    assert f.user == "U0TEACHER2"  # the author, not the person who used the shortcut
    assert f.extra["sent_by"] == "U0OFFICE01"
    assert f.permalink == "https://district.slack.com/archives/C0STAFF001/p1700000900000700"
    assert [x.name for x in f.files] == ["door.jpg"]


def test_the_shortcut_on_a_bot_post_is_ignored() -> None:
    body = load("message_action.json")
    body["message"]["bot_id"] = "B0HELPDESK"
    assert shortcut_fields(body) == Ignored("own_or_bot_message")


def test_the_status_button_names_its_conversation() -> None:
    assert status_action(load("block_actions_status.json")) == "CONVERSATION_ID"
    assert status_action({"actions": [{"action_id": "other", "value": "x"}]}) is None


def test_team_is_found_in_every_payload_kind() -> None:
    assert team_of(load("event_dm.json")) == "T0DISTRICT"
    assert team_of(load("view_submission.json")) == "T0DISTRICT"
    assert team_of(load("command_helpdesk.json")) == "T0DISTRICT"
    assert team_of({}) == ""


def test_text_helpers() -> None:
    assert (
        slack_text("<!here> call <@U0OTHER> at <mailto:a@b.org|a@b.org>")
        == "@here call @U0OTHER at a@b.org (mailto:a@b.org)"
    )
    assert permalink_for("", "C1", "1.2") == ""
