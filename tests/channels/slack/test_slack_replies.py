"""Slack out: acknowledgement, status and resolution in the request's thread, paced, retried, never doubled.

Real rq workers (the `intake worker --burst` command) and the official slack_sdk client, talking to the
local Web API stand-in.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path

from channels.slack.api import API_TIMEOUT_S
from channels.slack.replies import send_slack_reply
from gateway import keys
from gateway.models import Reply
from gateway.settings import Settings
from tests.channels.slack.test_slack_events import commitments
from tests.channels.slack_support import SlackGateway, event, payload
from tests.support.gateway import intake, settings_from
from tests.support.redis_server import RedisServer
from tests.support.slack_api import BOT_TOKEN, USER_EMAIL, USER_NAME, SlackAPI
from workers.backends.builtin import BuiltinBackend


def posts(api: SlackAPI) -> list[dict[str, object]]:
    return [c.args for c in api.called("chat.postMessage")]


def blocks_of(args: dict[str, object]) -> list[dict[str, object]]:
    raw = args["blocks"]
    return raw if isinstance(raw, list) else json.loads(str(raw))


async def test_dm_in_ticket_ack_in_thread_then_status_and_resolution_in_the_same_thread(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, slack_config_path: Path
) -> None:
    dm = event()
    assert (await slack_gateway.event(dm))[0] == 200
    run = intake(slack_config_path, "worker", "--burst")
    assert run.returncode == 0, run.stderr

    ticket = BuiltinBackend.from_settings(slack_gateway.settings).get("1")
    assert (ticket.requester_name, ticket.requester_email) == (USER_NAME, USER_EMAIL)  # users.info, in the worker
    [ack] = posts(slack_api)
    assert (ack["channel"], ack["thread_ts"]) == ("D0TEACHER1", dm["event"]["ts"])
    # The acknowledgement promises the first response by the shipped SLA policy's due time.
    assert ack["text"].startswith("Got it: request #1. The help desk will answer in this thread; reply here to add")
    assert re.search(r"We'll respond by \w+ \d\d:\d\d\.$", ack["text"]), ack["text"]
    section, actions = blocks_of(ack)
    assert section["type"] == "section"
    assert actions["elements"][0]["action_id"] == "intake_status"  # type: ignore[index]
    assert all(c.token == BOT_TOKEN for c in slack_api.calls)

    update = intake(slack_config_path, "tickets", "update", "1", "--status", "in_progress", "--comment", "On my way.")
    assert update.returncode == 0, update.stderr
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    intake(slack_config_path, "tickets", "update", "1", "--status", "resolved", "--comment", "New lamp fitted.")
    assert intake(slack_config_path, "worker", "--burst").returncode == 0

    _, status, resolved = posts(slack_api)
    assert status["text"] == "Request #1 is now being worked on. On my way."
    assert resolved["text"].startswith("Request #1 is resolved. New lamp fitted.")  # type: ignore[union-attr]
    assert {p["thread_ts"] for p in (status, resolved)} == {dm["event"]["ts"]}
    assert len(blocks_of(status)) == 1  # only the acknowledgement carries the status button
    assert len(slack_api.called("users.info")) == 1


async def test_a_modal_request_is_answered_in_the_dm_and_answers_there_join_its_ticket(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, slack_config_path: Path
) -> None:
    assert (await slack_gateway.interactive(payload("view_submission.json")))[0] == 200
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    [ack] = posts(slack_api)
    assert ack["channel"] == "U0TEACHER1" and "thread_ts" not in ack
    assert "Transportation" in str(ack["text"])
    [(dm_channel, ack_ts)] = list(slack_api.threads)
    assert dm_channel == "D0TEACHER1"
    # The requester answers in the acknowledgement's thread in their DM with the app.
    answer = event(thread_ts=ack_ts, text="It happened again today.")
    assert (await slack_gateway.event(answer))[0] == 200
    [joined] = commitments(redis_server)
    assert joined.evidence == "provider_thread"
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    details = BuiltinBackend.from_settings(slack_gateway.settings).details("1")
    assert [c.body for c in details.comments] == ["It happened again today."]


def _reply(conv: str, text: str = "Request #1 is now open.") -> Reply:
    return Reply(conversation=conv, channel="slack", recipient="U0TEACHER1", event="status_changed", text=text)


async def _one_request(gw: SlackGateway, redis_server: RedisServer) -> str:
    await gw.event(event())
    [c] = commitments(redis_server)
    return c.conversation


async def test_a_429_is_waited_out_with_retry_after_and_posted_once(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    conv = await _one_request(slack_gateway, redis_server)
    slack_api.fail("chat.postMessage", (429, {"Retry-After": "1"}))
    outcome = send_slack_reply(redis_server.client(), slack_gateway.settings, _reply(conv), "job-429")
    assert outcome == "sent"
    first, second = slack_api.called("chat.postMessage")
    assert second.at - first.at >= 0.95
    assert len(slack_api.threads[("D0TEACHER1", next(iter(slack_api.threads))[1])]) == 1


async def test_5xx_is_retried_by_the_worker_then_dead_lettered_and_replay_posts_once(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, slack_config_path: Path
) -> None:
    await slack_gateway.event(event())
    slack_api.fail("chat.postMessage", *[(503, {})] * 3)  # the first try and both retries
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    assert len(slack_api.called("chat.postMessage")) == 3
    doctor = intake(slack_config_path, "doctor")
    assert "1 job(s) failed every try" in doctor.stdout + doctor.stderr
    assert intake(slack_config_path, "replay").returncode == 0
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    [[thread]] = [list(slack_api.threads.values())]
    assert len(thread) == 1  # posted exactly once, by the replayed job
    assert BuiltinBackend.from_settings(slack_gateway.settings).count() == 1  # the ticket never waited on Slack


async def test_a_slack_that_takes_the_post_and_hangs_is_given_up_on_and_the_retry_does_not_post_again(
    slack_gateway: SlackGateway, slack_api: SlackAPI, slack_config_path: Path
) -> None:
    """End to end with real workers: chat.postMessage is taken, then no answer comes within the client's
    timeout. The job fails and is retried; the retry finds the post in the thread instead of posting twice."""
    await slack_gateway.event(event())
    slack_api.hang("chat.postMessage", API_TIMEOUT_S + 3)
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    assert len(slack_api.called("chat.postMessage")) == 1
    assert slack_api.called("conversations.replies")  # the retry looked before posting
    [[thread]] = [list(slack_api.threads.values())]
    assert len(thread) == 1
    assert BuiltinBackend.from_settings(slack_gateway.settings).count() == 1


async def test_a_job_run_twice_posts_once_even_after_a_crash_between_post_and_record(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    conv = await _one_request(slack_gateway, redis_server)
    r = redis_server.client()
    assert send_slack_reply(r, slack_gateway.settings, _reply(conv), "job-A") == "sent"
    assert send_slack_reply(r, slack_gateway.settings, _reply(conv), "job-A") == "already posted"
    # A worker died after Slack took the post but before recording it: the claim is still "attempt".
    r.set(keys.slack_posted("job-A"), "attempt")
    assert send_slack_reply(r, slack_gateway.settings, _reply(conv), "job-A") == "already posted"
    assert len(slack_api.called("chat.postMessage")) == 1
    assert len(slack_api.called("conversations.replies")) == 1


async def test_a_first_post_to_a_person_is_not_doubled_by_a_retry_after_a_crash(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer
) -> None:
    await slack_gateway.interactive(payload("view_submission.json"))  # no thread yet: the ack starts it
    [c] = commitments(redis_server)
    r = redis_server.client()
    ack = Reply(conversation=c.conversation, channel="slack", recipient="U0TEACHER1", event="received", text="Got it")
    assert send_slack_reply(r, slack_gateway.settings, ack, "job-first") == "sent"
    conv = r.hgetall(keys.conversation(c.conversation))
    r.hset(keys.conversation(c.conversation), mapping={"provider_conversation": "T0DISTRICT:U0TEACHER1",
                                                       "provider_thread": ""})  # fmt: skip
    r.set(keys.slack_posted("job-first"), "attempt")  # died after Slack took it, before recording it
    assert send_slack_reply(r, slack_gateway.settings, ack, "job-first") == "already posted"
    assert len(slack_api.called("chat.postMessage")) == 1
    assert [c.args["channel"] for c in slack_api.called("conversations.history")] == ["D0TEACHER1"]
    again = r.hgetall(keys.conversation(c.conversation))
    assert again[b"provider_thread"] == conv[b"provider_thread"] != b""


async def test_posts_to_one_channel_are_paced_across_workers(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, tmp_path: Path
) -> None:
    conv = await _one_request(slack_gateway, redis_server)
    settings: Settings = slack_gateway.settings
    conf = settings.channels.slack.model_copy(update={"channel_interval_s": 0.5})
    paced = settings.model_copy(update={"channels": settings.channels.model_copy(update={"slack": conf})})

    def worker(n: int) -> None:
        send_slack_reply(redis_server.client(), paced, _reply(conv, f"update {n}"), f"job-pace-{n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    times = sorted(c.at for c in slack_api.called("chat.postMessage"))
    assert len(times) == 3
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times))


async def test_a_failed_profile_lookup_never_blocks_the_ticket(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, slack_config_path: Path
) -> None:
    slack_api.fail("users.info", (500, {}))
    await slack_gateway.event(event())
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    ticket = BuiltinBackend.from_settings(settings_from(slack_config_path)).get("1")
    assert ticket.requester_email is None
    assert len(posts(slack_api)) == 1  # and the acknowledgement still went out


async def test_the_requester_hears_back_in_their_slack_language_and_the_profile_is_cached(
    slack_gateway: SlackGateway, slack_api: SlackAPI, redis_server: RedisServer, slack_config_path: Path
) -> None:
    slack_api.locale = "es-ES"
    first = event()
    await slack_gateway.event(first)
    await slack_gateway.event(event(thread_ts=first["event"]["ts"], text="Sigue sin funcionar."))
    await slack_gateway.event(event())  # a second request from the same person
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    acks = posts(slack_api)
    assert [str(a["text"]).split(":")[0] for a in acks] == ["Recibido", "Recibido"]
    assert len(slack_api.called("users.info")) == 1  # cached in Redis for the next jobs
    intake(slack_config_path, "tickets", "update", "1", "--status", "waiting")
    assert intake(slack_config_path, "worker", "--burst").returncode == 0
    assert posts(slack_api)[-1]["text"] == "La solicitud #1 ahora está esperando su respuesta."
