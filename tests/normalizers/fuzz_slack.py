"""Property tests of the Slack parsers: any body is a payload or nothing (answered 200 and counted as malformed), and
any payload is a request's fields or the reason it is none (`Ignored`), never another exception."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import example, given
from hypothesis import strategies as st

from channels.slack.channel import parse_body
from normalizers.slack import (
    SURVEY_CALLBACK,
    Ignored,
    SlackFields,
    command_fields,
    event_fields,
    shortcut_fields,
    slack_text,
    status_action,
    survey_action,
    survey_comment,
    team_of,
    view_fields,
)
from tests.normalizers.fuzzing import FUZZ, JSON_VALUES, ODD_STRINGS, load_json, mutated

EVENTS = [load_json("slack", n) for n in ("event_dm.json", "event_app_mention.json", "event_thread_reply.json",
                                          "event_file_share.json", "event_bot_message.json")]  # fmt: skip
VIEW = load_json("slack", "view_submission.json")
SHORTCUT = load_json("slack", "message_action.json")
STATUS = load_json("slack", "block_actions_status.json")
COMMAND = load_json("slack", "command_helpdesk.json")
SURVEY = {**STATUS, "actions": [{"action_id": "intake_survey_4", "type": "button", "value": "c0nv.4"}]}
COMMENT_STATE = {"values": {"comment": {"comment": {"type": "plain_text_input", "value": "ok"}}}}
COMMENT = {
    **VIEW,
    "view": {**VIEW["view"], "callback_id": SURVEY_CALLBACK, "private_metadata": "c0nv", "state": COMMENT_STATE},
}
KEYS = st.sampled_from(["type", "event", "subtype", "user", "text", "ts", "thread_ts", "channel", "channel_type",
                        "bot_id", "files", "team", "team_id", "authorizations", "view", "state", "values", "actions",
                        "value", "message", "callback_id", "enterprise", "id"])  # fmt: skip


def payloads(*originals: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(*(mutated(o, keys=KEYS) for o in originals))


def check_fields(found: SlackFields | Ignored) -> None:
    if isinstance(found, Ignored):
        assert found.reason
        return
    assert isinstance(found, SlackFields)
    assert found.team and found.channel and found.user and found.provider_id
    assert isinstance(found.text, str)


@FUZZ
@given(payloads(*EVENTS))
@example({**EVENTS[0], "event": {**EVENTS[0]["event"], "subtype": []}})  # an unhashable subtype
@example({**EVENTS[0], "event": {**EVENTS[0]["event"], "subtype": {"x": 1}}})
def test_any_event_is_fields_or_ignored(body: dict[str, Any]) -> None:
    check_fields(event_fields(body, "U0BOT"))
    assert isinstance(team_of(body), str)


@FUZZ
@given(payloads(VIEW, COMMENT))
def test_any_view_submission_is_fields_or_ignored(body: dict[str, Any]) -> None:
    check_fields(view_fields(body))
    found = survey_comment(body)
    assert found is None or all(isinstance(x, str) for x in found)


@FUZZ
@given(payloads(SHORTCUT))
def test_any_message_shortcut_is_fields_or_ignored(body: dict[str, Any]) -> None:
    check_fields(shortcut_fields(body))


@FUZZ
@given(payloads(STATUS, SURVEY))
@example({**SURVEY, "actions": [{"action_id": "intake_survey_4", "value": "c0nv.²"}]})  # isdigit(), yet not int()
@example({**SURVEY, "actions": [{"action_id": "intake_survey_4", "value": "c0nv." + "4" * 5000}]})
def test_any_block_action_is_a_status_or_survey_click_or_nothing(body: dict[str, Any]) -> None:
    status = status_action(body)
    assert status is None or isinstance(status, str)
    survey = survey_action(body)
    assert survey is None or (isinstance(survey[0], str) and isinstance(survey[1], int))


@FUZZ
@given(payloads(COMMAND))
def test_any_slash_command_gives_text_fields(body: dict[str, Any]) -> None:
    assert all(isinstance(v, str) for v in command_fields(body).values())


@FUZZ
@given(st.text(max_size=200) | ODD_STRINGS, st.text(max_size=12))
@example("<@U0BOT|x><http://a|<@U1>><#C1|general><!here|@here>&amp;lt;", "U0BOT")
def test_any_mrkdwn_reads_as_plain_text(raw: str, bot: str) -> None:
    assert isinstance(slack_text(raw, bot), str)


def _form(value: Any) -> bytes:
    return urlencode({"payload": json.dumps(value)}).encode()


@FUZZ
@given(
    st.binary(max_size=300)
    | payloads(*EVENTS).map(lambda v: json.dumps(v).encode())
    | payloads(VIEW, STATUS).map(_form)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
)
@example(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json")  # nested past the recursion limit
@example(b"payload=" + b"%5B" * 100_000, "application/x-www-form-urlencoded")
@example(b'{"a": ' + b"1" * 5000 + b"}", "application/json")  # past int()'s 4,300 digits
def test_any_body_is_a_payload_or_nothing(raw: bytes, content_type: str) -> None:
    body = parse_body(raw, content_type)
    assert body is None or isinstance(body, dict)
