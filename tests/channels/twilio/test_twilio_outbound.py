"""Texts out: retries with backoff then dead-letter, never a duplicate, permanent errors, quiet hours, rate limit,
and status callbacks applied only forward."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from channels.twilio.replies import wait_for_rate
from gateway import keys
from gateway.outbox.consent import history, is_suppressed, phone_digest
from tests.channels.twilio_support import (
    PARENT,
    sms_gateway,
    text_in,
    texts,
    tickets,
    twilio_config,
    work,
)
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import Failure, TwilioStandIn


def timeline(r: redis.Redis) -> list[dict[str, str]]:
    """The timeline of the first request's conversation."""
    first = sorted(r.scan_iter("ig:req:*"))[0]
    conv = r.hget(first, "conversation")
    assert conv is not None
    return [json.loads(e) for e in r.lrange(keys.timeline(conv.decode()), 0, -1)]


def replies_failed(r: redis.Redis) -> list[str]:
    return list(FailedJobRegistry(queue=Queue("replies", connection=r, serializer=JSONSerializer)).get_job_ids())


async def test_429_and_5xx_are_retried_and_the_text_goes_once(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    standin.failures = [Failure(429, 20429), Failure(503)]
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
    work(config)
    assert len(standin.created()) == 3
    assert len(standin.messages) == 1
    assert replies_failed(redis_server.client()) == []


async def test_a_send_that_keeps_failing_is_dead_lettered_then_replayed_once(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    standin.failures = [Failure(500)] * 3  # the first try and both retries (jobs.retry_intervals: [0, 0])
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
    work(config)
    assert standin.messages == []
    assert len(replies_failed(redis_server.client())) == 1
    assert intake(config, "replay").returncode == 0
    work(config)
    assert len(standin.messages) == 1
    work(config)
    assert len(standin.messages) == 1


async def test_an_ambiguous_failure_is_looked_up_before_sending_again(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    standin.failures = [Failure(502, create_anyway=True)]  # Twilio took the text, the answer was lost
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
    work(config)
    assert len(standin.messages) == 1
    assert len(standin.created()) == 1
    assert [r.method for r in standin.requests] == ["POST", "GET"]
    r = redis_server.client()
    sid = standin.messages[0]["sid"]
    assert r.hget(keys.sms_message(sid), "event") == b"received"


async def test_a_send_that_times_out_after_twilio_took_it_is_looked_up_and_never_sent_twice(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    """Chatwoot #15920: a send that timed out was dropped. Ours is retried, and since Twilio may have taken it (here it
    did, then answered too late) the retry finds the text instead of sending a second one."""
    standin.failures = [Failure(201, delay_s=3.0)]  # created, and its 201 comes after the client gave up
    config = twilio_config(tmp_path, redis_server, standin, api_timeout_s=1.0)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
    work(config)
    assert len(standin.created()) == 1
    assert len(standin.messages) == 1
    assert [r.method for r in standin.requests] == ["POST", "GET"]
    assert redis_server.client().hget(keys.sms_message(standin.messages[0]["sid"]), "event") == b"received"


async def test_a_number_that_opted_out_at_the_carrier_goes_to_the_ledger_and_is_not_retried(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    standin.failures = [Failure(400, 21610)]
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
    work(config)
    r = redis_server.client()
    assert len(standin.created()) == 1
    assert is_suppressed(r, PARENT)
    assert history(r, PARENT)[0]["how"] == "carrier error 21610"
    assert next(e for e in timeline(r) if e["event"] == "reply_not_delivered")["error_code"] == "21610"
    shown = intake(config, "tickets", "show", "1").stdout
    assert "The family did not receive the text (received): error 21610" in shown


def _window_around_now() -> str:
    now = datetime.now(UTC)
    return f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"


async def test_quiet_hours_hold_updates_but_never_the_acknowledgement_and_never_urgent_ones(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin, quiet_hours=_window_around_now())
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        await text_in(gw, "Water leak in room 12", From="+15557770000")
    work(config)
    assert len(texts(standin)) == 2  # both acknowledgements, at once
    r = redis_server.client()
    [urgent_conv] = [
        k.decode().split(":")[2]
        for k in r.scan_iter("ig:conv:*")
        if k.count(b":") == 2 and r.hget(k, "ticket_ref") == b"2"
    ]
    r.hset(keys.conversation(urgent_conv), "priority", "urgent")
    for ref in ("1", "2"):
        assert intake(config, "tickets", "update", ref, "--status", "in_progress").returncode == 0
    work(config)
    bodies = [t["Body"] for t in texts(standin)]
    assert bodies[2:] == ["Request #2 is now being worked on."]  # only the urgent one went
    held = ScheduledJobRegistry(queue=Queue("replies", connection=r, serializer=JSONSerializer)).get_job_ids()
    assert len(held) == 1 and held[0].endswith("-held")


def test_the_per_number_rate_limit_spreads_sends_over_seconds(redis_server: RedisServer) -> None:
    r = redis_server.client()
    seconds = []
    started = time.monotonic()
    for _ in range(5):
        wait_for_rate(r, "main", 2)
        seconds.append(int(time.time()))
    assert max(seconds.count(s) for s in set(seconds)) <= 2
    assert time.monotonic() - started >= 1.0
    wait_for_rate(r, "other-number", 2)  # another number has its own budget
    assert time.monotonic() - started < 5


async def test_delivery_status_is_applied_only_forward_and_a_permanent_failure_shows_on_the_timeline(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        work(config)
        sid = standin.messages[0]["sid"]
        status_hook = "/hooks/twilio/status"

        def cb(status: str, error: str = "") -> dict[str, str]:
            from tests.channels.twilio_support import ACCOUNT_SID, MAIN

            out = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                   "AccountSid": ACCOUNT_SID, "From": MAIN, "To": PARENT, "ApiVersion": "2010-04-01"}  # fmt: skip
            if error:
                out["ErrorCode"] = error
            return out

        answers = [await gw.post(status_hook, cb(s)) for s in ("sent", "delivered", "sent")]
        unsigned = await gw.post(status_hook, cb("failed", "30006"), sign=False)
        r = redis_server.client()
        assert [a[0] for a in answers] == [200, 200, 200]
        assert unsigned[0] == 403
        assert r.hget(keys.sms_message(sid), "status") == b"delivered"  # a late "sent" never goes back
        assert not r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(PARENT))

        # A second update fails for good: the number is marked and the family's timeline says so.
        assert intake(config, "tickets", "update", "1", "--status", "in_progress").returncode == 0
        work(config)
        sid = standin.messages[1]["sid"]
        assert (await gw.post(status_hook, cb("undelivered", "30006")))[0] == 200
        assert r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(PARENT))
        [failed] = [e for e in timeline(r) if e["event"] == "reply_not_delivered"]
        assert (failed["reply_event"], failed["error_code"], failed["permanent"]) == ("status_changed", "30006", True)
        assert intake(config, "tickets", "update", "1", "--status", "waiting").returncode == 0
        work(config)
        assert len(standin.messages) == 2  # nothing more is sent to a number that cannot receive texts
        shown = intake(config, "tickets", "show", "1").stdout
        assert shown.count("The family did not receive the text (status_changed): error 30006") == 1

        # The carrier reports an opt-out (21610) on a status callback: the ledger learns it.
        sid = standin.messages[0]["sid"]
        r.hdel(keys.sms_message(sid), "rank")
        assert (await gw.post(status_hook, cb("failed", "21610")))[0] == 200
        assert is_suppressed(r, PARENT)
    assert len(tickets(config)) == 1


async def test_a_failure_callback_that_beats_the_record_of_the_send_still_marks_the_number(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    from tests.channels.twilio_support import ACCOUNT_SID, MAIN, sid

    message_sid = sid()
    standin.next_sids = [message_sid]
    config = twilio_config(tmp_path, redis_server, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "The bus did not come")
        early = {"MessageSid": message_sid, "MessageStatus": "failed", "ErrorCode": "30003",
                 "AccountSid": ACCOUNT_SID, "From": MAIN, "To": PARENT}  # fmt: skip
        assert (await gw.post("/hooks/twilio/status", early))[0] == 200
    work(config)
    r = redis_server.client()
    assert [m["sid"] for m in standin.messages] == [message_sid]
    assert r.hexists(keys.SMS_UNDELIVERABLE, phone_digest(PARENT))
    assert "error 30003" in intake(config, "tickets", "show", "1").stdout
