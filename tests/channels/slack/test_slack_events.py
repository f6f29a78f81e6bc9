"""Events API in: DMs and mentions become requests, retries never double them, junk never makes Slack retry."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.models import Commitment
from tests.channels.slack_support import SlackGateway, event, queued_deliveries, stored_requests
from tests.support.redis_server import RedisServer


def commitments(redis_server: RedisServer) -> list[Commitment]:
    q = Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
    return [Commitment.model_validate(j.args[0]) for j in q.jobs]


async def metric(gw: SlackGateway, name: str, **labels: str) -> float:
    async with gw.http.get(gw.base + "/metrics") as resp:
        text = await resp.text()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in /metrics")


async def test_a_direct_message_becomes_one_request_threaded_under_it(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    body = event()
    started = time.monotonic()
    status, _ = await slack_gateway.event(body)
    assert status == 200
    assert time.monotonic() - started < 1.0  # Slack gives us 3 s; the commit is what we wait for
    [req] = stored_requests(redis_server)
    assert (req["channel"], req["evidence"]) == ("slack", "new")
    [c] = commitments(redis_server)
    m = c.message
    assert (m.channel, m.account, m.sender, m.provider_id) == ("slack", "T0DISTRICT", "U0TEACHER1", body["event_id"])
    assert m.text.startswith("The projector in room 204")
    assert m.requester.role == "staff"
    conv = redis_server.client().hgetall(keys.conversation(c.conversation))
    assert conv[b"provider_conversation"] == b"T0DISTRICT:D0TEACHER1"
    assert conv[b"provider_thread"] == body["event"]["ts"].encode()
    thread_key = keys.provider_thread("slack", "T0DISTRICT:D0TEACHER1", body["event"]["ts"])
    assert redis_server.client().get(thread_key) == c.conversation.encode()


async def test_the_same_event_delivered_three_times_is_one_request(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    body = event()
    answers = [await slack_gateway.event(body)]
    for n in (1, 2):
        retry = {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
        answers.append(await slack_gateway.event(body, headers=retry))
    assert [a[0] for a in answers] == [200, 200, 200]
    assert len(stored_requests(redis_server)) == 1
    assert queued_deliveries(redis_server) == 1
    assert await metric(slack_gateway, "intake_duplicates_total", channel="slack") == 2


async def test_a_retry_is_taken_when_no_earlier_try_was_stored(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
    status, _ = await slack_gateway.event(event(), headers=retry)
    assert status == 200
    assert len(stored_requests(redis_server)) == 1


async def test_a_retry_after_a_first_try_that_could_not_be_stored_is_taken(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    body = event()
    redis_server.stop(kill=True)
    blocker = sqlite3.connect(slack_gateway.settings.path_in_data("spool.sqlite3"), timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # neither Redis nor the spool: the first try fails before any commit
    try:
        status, _ = await slack_gateway.event(body)
        assert status == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    redis_server.start()
    status, _ = await slack_gateway.event(
        body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
    )
    assert status == 200
    assert len(stored_requests(redis_server)) == 1


async def test_a_mention_in_a_channel_is_a_request_and_replies_in_its_thread_join_it(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    mention = event("event_app_mention.json")
    assert (await slack_gateway.event(mention))[0] == 200
    reply = event("event_thread_reply.json", thread_ts=mention["event"]["ts"])
    assert (await slack_gateway.event(reply))[0] == 200
    first, second = commitments(redis_server)
    assert second.conversation == first.conversation
    assert second.evidence == "provider_thread"
    assert second.message.sender == "U0TEACHER2"  # anyone answering in the request's thread adds to it


async def test_a_reply_in_someone_elses_thread_is_not_a_request(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    status, _ = await slack_gateway.event(event("event_thread_reply.json", thread_ts="1699999999.000001"))
    assert status == 200
    assert stored_requests(redis_server) == []
    assert await metric(slack_gateway, "intake_ignored_total", channel="slack", reason="not_our_thread") == 1


async def test_a_dm_reply_in_the_requests_thread_is_a_comment_on_the_same_conversation(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    first = event()
    await slack_gateway.event(first)
    follow = event(thread_ts=first["event"]["ts"], text="It is room 204, not 206.")
    await slack_gateway.event(follow)
    a, b = commitments(redis_server)
    assert (b.conversation, b.evidence) == (a.conversation, "provider_thread")


async def test_our_own_posts_never_become_requests(slack_gateway: SlackGateway, redis_server: RedisServer) -> None:
    status, _ = await slack_gateway.event(event("event_bot_message.json"))
    assert status == 200
    own = event(user="U0HELPDESK")  # our bot user, even without a bot_id
    assert (await slack_gateway.event(own))[0] == 200
    assert stored_requests(redis_server) == []
    assert await metric(slack_gateway, "intake_ignored_total", channel="slack", reason="own_or_bot_message") == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "event_callback", "team_id": "T0DISTRICT", "event_id": "Ev0NOEVENT"}, "missing_event"),
        ({"type": "something_new", "team_id": "T0DISTRICT"}, "unhandled_type"),
        ({"type": "event_callback", "team_id": "T0DISTRICT", "event": {"type": "reaction_added"}}, "unhandled_event"),
        ({"type": "event_callback", "team_id": "T0DISTRICT", "event": {"type": "message"}}, "missing_field"),
    ],
)
async def test_malformed_payloads_are_200_and_ignored_with_a_metric(
    slack_gateway: SlackGateway, redis_server: RedisServer, body: dict[str, object], reason: str
) -> None:
    status, _ = await slack_gateway.event(body)
    assert status == 200  # a 4xx or 5xx would have Slack retry it for hours
    assert stored_requests(redis_server) == []
    assert await metric(slack_gateway, "intake_ignored_total", channel="slack", reason=reason) == 1


async def test_a_signed_body_that_is_not_json_is_200_and_ignored(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    status, _ = await slack_gateway.post("/hooks/slack/events", b"{not json")
    assert status == 200
    assert stored_requests(redis_server) == []
    assert await metric(slack_gateway, "intake_ignored_total", channel="slack", reason="malformed") == 1


async def test_bolt_never_logs_a_request_body(
    slack_gateway: SlackGateway, redis_server: RedisServer, captured_logs: io.StringIO
) -> None:
    secret_text = "Mateo-inhaler-locker-4471"
    unhandled = {
        "type": "block_actions",
        "team": {"id": "T0DISTRICT"},
        "user": {"id": "U0TEACHER1"},
        "actions": [{"action_id": "someone_elses_button", "value": secret_text}],
        "message": {"text": secret_text},
    }
    assert (await slack_gateway.interactive(unhandled))[0] == 200
    assert (await slack_gateway.event(event(text=secret_text)))[0] == 200
    logs = captured_logs.getvalue()
    assert logs  # the run did log (the request, the commit): only never the body
    assert secret_text not in logs
    assert "U0TEACHER1" not in json.dumps([json.loads(x).get("msg") for x in logs.splitlines()])


async def test_serving_slack_leaves_the_gateways_own_info_logs_on(slack_gateway: SlackGateway) -> None:
    # slack_bolt sets the level of the logger named after the app; named "intake", it silenced every
    # intake.* INFO line (a directory loaded, a spool drained) for the rest of the process.
    assert (await slack_gateway.event(event()))[0] == 200
    assert logging.getLogger("intake").level == logging.NOTSET  # the configured level (logging.level) rules
