"""A survey in the request's Slack thread, against the Web API stand-in: five buttons, a click that rates once and
opens the comment modal, the modal's comment attached once, and every second or bad answer told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway import keys
from tests.channels.slack.test_slack_events import commitments
from tests.channels.slack.test_slack_interactive import wait_for_call
from tests.channels.slack_support import SlackGateway, event, payload
from tests.conftest import start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import SlackAPI, slack_config


def blocks_of(args: dict[str, Any]) -> list[dict[str, Any]]:
    raw = args["blocks"]
    return raw if isinstance(raw, list) else list(json.loads(str(raw)))


def click(conv: str, rating: int, team: str = "T0DISTRICT") -> dict[str, Any]:
    body = payload("block_actions_status.json")
    body["team"]["id"] = team
    body["actions"] = [{"action_id": f"intake_survey_{rating}", "block_id": "intake_survey", "type": "button",
                        "value": f"{conv}.{rating}", "action_ts": "1700001100.000002",
                        "text": {"type": "plain_text", "text": str(rating)}}]  # fmt: skip
    return body


def submitted(conv: str, comment: str) -> dict[str, Any]:
    body = payload("view_submission.json")
    body["view"]["callback_id"] = "intake_survey_comment"
    body["view"]["private_metadata"] = conv
    body["view"]["state"] = {"values": {"comment": {"comment": {"type": "plain_text_input", "value": comment}}}}
    return body


def survey(redis_server: RedisServer, conv: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_server.client().hgetall(keys.survey(conv)).items()}


async def test_a_slack_request_is_surveyed_with_buttons_rated_once_and_commented_in_a_modal(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    config = write_config(tmp_path, redis_server.url, channels={"slack": slack_config(slack_api)},
                          surveys={"enabled": True, "comment_max_chars": 30})  # fmt: skip
    server, http = await start_gateway(settings_from(config))
    gw = SlackGateway(server, http, settings_from(config))
    try:
        assert (await gw.event(event()))[0] == 200
        [c] = commitments(redis_server)
        assert intake(config, "worker", "--burst").returncode == 0
        assert intake(config, "tickets", "update", "1", "--status", "resolved").returncode == 0
        assert intake(config, "worker", "--burst").returncode == 0
        posted = slack_api.called("chat.postMessage")[-1].args
        assert "How did we do?" in str(posted["text"]) and posted["thread_ts"]  # in the request's thread
        buttons = blocks_of(posted)[1]["elements"]
        assert [b["value"] for b in buttons] == [f"{c.conversation}.{n}" for n in (5, 4, 3, 2, 1)]

        assert (await gw.interactive(click(c.conversation, 4, team="T0ELSEWHERE")))[0] == 401  # not our workspace
        assert "rating" not in survey(redis_server, c.conversation)
        assert (await gw.interactive(click(c.conversation, 4)))[0] == 200
        [opened] = await wait_for_call(slack_api, "views.open")
        view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
        assert (view["callback_id"], view["private_metadata"]) == ("intake_survey_comment", c.conversation)
        assert (survey(redis_server, c.conversation)["rating"], survey(redis_server, c.conversation)["via"]) == (
            "4", "slack",
        )  # fmt: skip

        status, answer = await gw.interactive(submitted(c.conversation, "x" * 31))
        assert status == 200 and json.loads(answer)["errors"] == {"comment": "Use at most 30 characters."}
        assert (await gw.interactive(submitted(c.conversation, "Quick fix, thanks.")))[1] == ""
        status, answer = await gw.interactive(submitted(c.conversation, "Again."))
        assert json.loads(answer)["errors"] == {"comment": "We already have your comment on this survey. Thank you!"}

        assert (await gw.interactive(click(c.conversation, 1)))[0] == 200
        [told] = await wait_for_call(slack_api, "chat.postEphemeral")
        assert told.args["text"].startswith("We already have your answer to this survey and kept the first one.")
    finally:
        await http.close()
        await server.close()
    stored = survey(redis_server, c.conversation)
    assert (stored["rating"], stored["comment"]) == ("4", "Quick fix, thanks.")
    assert len(slack_api.called("views.open")) == 1  # the second click opened none
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1").stdout  # told to the ticket system, as every answer is
    assert shown.count("the family rated this request 4 out of 5 (by Slack).") == 1
    assert shown.count("Satisfaction survey comment from the family: Quick fix, thanks.") == 1
