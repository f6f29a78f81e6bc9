"""A survey by text, end to end against the Twilio stand-in: "Reply 1-5" after the resolution, the rating and a
comment taken ahead of sender continuity (never a ticket), in the family's language, and every bad answer told."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway import keys
from gateway.models import utcnow
from tests.channels.twilio_support import PUBLIC, SPANISH, sms_gateway, text_in, texts, tickets, twilio_settings, work
from tests.support.gateway import intake, write_config
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn


def config(tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, **twilio: Any) -> Path:
    return write_config(tmp_path, redis_server.url, server={"public_base_url": PUBLIC},
                        channels={"twilio": twilio_settings(standin, **twilio)},
                        surveys={"enabled": True, "comment_max_chars": 60})  # fmt: skip


def bodies(standin: TwilioStandIn) -> list[str]:
    return [t["Body"] for t in texts(standin)]


def survey(redis_server: RedisServer) -> dict[str, str]:
    r = redis_server.client()
    [key] = [k.decode() for k in r.scan_iter(keys.survey("*"))]
    return {k.decode(): v.decode() for k, v in r.hgetall(key).items()}


async def resolved_by_text(cfg: Path, standin: TwilioStandIn, first: str, **params: str) -> None:
    async with sms_gateway(cfg) as gw:
        await text_in(gw, first, **params)
    work(cfg)
    assert intake(cfg, "tickets", "update", "1", "--status", "resolved", "--comment", "Fixed.").returncode == 0
    work(cfg)


async def answer(cfg: Path, *words: str, **params: str) -> None:
    for text in words:  # one at a time, as a family texts: each is handled before the next arrives
        async with sms_gateway(cfg) as gw:
            await text_in(gw, text, **params)
        work(cfg)


async def test_a_texted_rating_and_comment_are_stored_on_the_survey_and_never_become_tickets(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    cfg = config(tmp_path, redis_server, standin)
    await resolved_by_text(cfg, standin, "The 7:10 bus to Lincoln did not come this morning.")
    assert bodies(standin)[-1] == "How did we do on request #1? Reply 1 (poor) to 5 (great). You may text a comment " \
                                  "after your number."  # fmt: skip
    await answer(cfg, "4", "The driver called us, thank you!")
    assert bodies(standin)[-2:] == [
        "Thank you for rating request #1! If you like, text us one more message with a comment.",
        "Thank you for your comment. We read every one.",
    ]
    stored = survey(redis_server)
    assert (stored["rating"], stored["via"], stored["comment"]) == ("4", "sms", "The driver called us, thank you!")
    assert (stored["channel"], stored["school"], stored["department"]) == ("sms", "district", "general")
    [ticket] = tickets(cfg)  # neither text became a ticket, nor the family's comment on the resolved one
    assert ticket["status"] == "resolved"
    shown = intake(cfg, "tickets", "show", "1").stdout  # the answer is on the ticket, for staff: internal notes
    assert shown.count("Satisfaction survey: the family rated this request 4 out of 5 (by text message).") == 1
    assert shown.count("Satisfaction survey comment from the family: The driver called us, thank you!") == 1
    # The survey is complete: the family's next text is a request again.
    await answer(cfg, "The bus is late again today, it is 7:25 now.")
    assert len(tickets(cfg)) == 2


async def test_a_number_outside_one_to_five_and_a_second_rating_are_answered_and_stored_nothing_twice(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    cfg = config(tmp_path, redis_server, standin)
    await resolved_by_text(cfg, standin, "My son's Chromebook will not charge.")
    await answer(cfg, "7", "2", "5", "x" * 61)
    assert bodies(standin)[-4:] == [
        "Please reply with a number from 1 (poor) to 5 (great) to rate request #1.",
        "Thank you for rating request #1! If you like, text us one more message with a comment.",
        "We already have your rating for request #1, and we kept the first one. Thank you!",
        "Your comment is too long. Please send one of at most 60 characters.",
    ]
    stored = survey(redis_server)
    assert (stored["rating"], "comment" in stored) == ("2", False)
    assert redis_server.client().zcard(keys.SURVEYS_ANSWERED) == 1
    assert len(tickets(cfg)) == 1


async def test_a_spanish_speaking_family_is_asked_and_answered_in_spanish_and_rates_in_words(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    cfg = config(tmp_path, redis_server, standin)
    await resolved_by_text(cfg, standin, "El autobús 12 no pasó hoy", To=SPANISH)
    assert bodies(standin)[-1].startswith("¿Qué tal lo hicimos con su solicitud #1? Responda del 1 (mal) al 5")
    await answer(cfg, "cinco", To=SPANISH)
    assert bodies(standin)[-1].startswith("¡Gracias por calificar la solicitud #1!")
    assert all(t["From"] == SPANISH for t in texts(standin))  # from the number the family texted
    assert (survey(redis_server)["rating"], survey(redis_server)["language"]) == ("5", "es")


async def test_no_survey_is_texted_to_a_number_that_said_stop_and_the_skip_is_recorded(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    cfg = config(tmp_path, redis_server, standin)
    async with sms_gateway(cfg) as gw:
        await text_in(gw, "The 7:10 bus to Lincoln did not come this morning.")
    work(cfg)
    await answer(cfg, "STOP")
    sent_before = len(texts(standin))
    assert intake(cfg, "tickets", "update", "1", "--status", "resolved").returncode == 0
    work(cfg)
    stored = survey(redis_server)
    assert (stored["state"], stored["skipped"]) == ("skipped", '{"sms": "opted out"}')
    assert len(texts(standin)) == sent_before


async def test_a_survey_that_falls_in_quiet_hours_waits_for_the_morning(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    now = utcnow()  # the district's time zone is UTC in the tests' config
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    cfg = config(tmp_path, redis_server, standin, quiet_hours=window)
    await resolved_by_text(cfg, standin, "The 7:10 bus to Lincoln did not come this morning.")
    assert not any("Reply 1 (poor)" in b for b in bodies(standin))
    held = [k.decode() for k in redis_server.client().scan_iter("rq:job:reply-survey-*-held")]
    assert len(held) == 1
    assert survey(redis_server)["state"] == "sent"  # asked: the text itself waits in the scheduler
