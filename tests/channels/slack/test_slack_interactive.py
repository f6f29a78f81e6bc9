"""The slash command's modal, its submission, the message shortcut and the status button."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from gateway import keys
from tests.channels.slack.test_slack_events import commitments
from tests.channels.slack_support import SlackGateway, event, payload, stored_requests
from tests.support.redis_server import RedisServer
from tests.support.slack_api import BOT_TOKEN, SlackAPI


async def wait_for_call(api: SlackAPI, method: str, timeout: float = 5.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = api.called(method)
        if calls:
            return calls
        await asyncio.sleep(0.02)
    raise AssertionError(f"{method} was never called")


async def test_the_slash_command_opens_the_request_modal_after_a_fast_ack(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    started = time.monotonic()
    status, _ = await slack_gateway.command(payload("command_helpdesk.json"))
    assert status == 200
    assert time.monotonic() - started < 1.0
    [call] = await wait_for_call(slack_api, "views.open")
    assert call.token == BOT_TOKEN
    assert call.args["trigger_id"] == "13345224609.738474920.8088930838d88f008e0"
    view = call.args["view"] if isinstance(call.args["view"], dict) else json.loads(call.args["view"])
    assert view["callback_id"] == "intake_request"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) == {"category", "school", "urgency", "description", "attachments"}
    assert blocks["description"]["element"]["initial_value"] == "bus 14 was late again"
    assert "transportation" in [o["value"] for o in blocks["category"]["element"]["options"]]
    assert blocks["attachments"]["optional"] is True
    assert stored_requests(redis_server) == []  # opening a form is not a request


async def test_the_modal_submission_becomes_a_request(slack_gateway: SlackGateway, redis_server: RedisServer) -> None:
    status, text = await slack_gateway.interactive(payload("view_submission.json"))
    assert status == 200
    assert text == ""  # an empty answer closes the modal
    [c] = commitments(redis_server)
    m = c.message
    assert (m.category, m.campus, m.sender, m.account) == ("transportation", "lhs", "U0TEACHER1", "T0DISTRICT")
    assert m.text.startswith("Urgency: high\n\nBus 14 was 40 minutes late")
    [f] = m.attachments
    assert (f.filename, f.kept) == ("schedule.pdf", False)
    assert f.reason is not None and "F0SCHED001" in f.reason
    conv = redis_server.client().hgetall(keys.conversation(c.conversation))
    assert conv[b"provider_conversation"] == b"T0DISTRICT:U0TEACHER1"
    assert conv[b"provider_thread"] == b""  # the acknowledgement will start the thread
    # Submitting the same view twice (a double click, a retry) is one request.
    await slack_gateway.interactive(payload("view_submission.json"))
    assert len(stored_requests(redis_server)) == 1


async def test_the_message_shortcut_makes_a_request_for_the_author(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    status, _ = await slack_gateway.interactive(payload("message_action.json"))
    assert status == 200
    [c] = commitments(redis_server)
    assert c.message.sender == "U0TEACHER2"
    assert "https://district.slack.com/archives/C0STAFF001/p1700000900000700" in c.message.text
    assert c.message.text.endswith("Sent to the help desk by Slack user U0OFFICE01")
    assert [a.filename for a in c.message.attachments] == ["door.jpg"]
    # Someone else using the shortcut on the same message adds nothing.
    other = payload("message_action.json")
    other["user"]["id"] = "U0SOMEONE2"
    other["trigger_id"] = "13345224609.0000000000.another"
    await slack_gateway.interactive(other)
    assert len(stored_requests(redis_server)) == 1


async def test_the_status_button_answers_privately_with_the_live_status(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    await slack_gateway.event(event())
    [c] = commitments(redis_server)
    redis_server.client().hset(keys.conversation(c.conversation), mapping={"status": "in_progress", "ticket_ref": "7"})
    click = payload("block_actions_status.json")
    click["actions"][0]["value"] = c.conversation
    status, _ = await slack_gateway.interactive(click)
    assert status == 200
    [call] = await wait_for_call(slack_api, "chat.postEphemeral")
    assert (call.args["channel"], call.args["user"]) == ("D0TEACHER1", "U0TEACHER1")
    assert call.args["text"] == "Request #7 is now being worked on."
    assert len(stored_requests(redis_server)) == 1  # a button is never a ticket


async def test_the_status_button_of_another_workspace_reads_nothing(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    await slack_gateway.event(event())
    [c] = commitments(redis_server)
    redis_server.client().hset(keys.conversation(c.conversation), "account", "T0ELSEWHERE")
    click = payload("block_actions_status.json")
    click["actions"][0]["value"] = c.conversation
    assert (await slack_gateway.interactive(click))[0] == 200
    await asyncio.sleep(0.3)
    assert slack_api.called("chat.postEphemeral") == []
