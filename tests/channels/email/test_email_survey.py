"""The survey at close by email, end to end: a mail through the real Dovecot, the ticket resolved, the survey sent
through the real SMTP server, and one of its links clicked in the real browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from gateway import keys
from gateway.server.app import create_app
from tests.channels.email_support import mail, mailbox_conf, running_poller
from tests.mail_fixtures import IMAP_USER
from tests.support.browser import chromium
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer, free_port
from tests.support.smtp_sink import ReceivedMail, SmtpSink

LINK = re.compile(r"^(\d) - [^:]+: (http\S+/survey/\S+)\r?$", re.M)
DEADLINE_S = 60.0


def survey_config(tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp: SmtpSink, port: int,
                  **surveys: Any) -> Path:  # fmt: skip
    """The `help` mailbox, and the web process on a port chosen now: the links the worker writes must lead to it."""
    email = {"mailboxes": {"help": mailbox_conf(dovecot, smtp)}, "poll_interval_s": 0.5}
    return write_config(tmp_path, redis_server.url, channels={"email": email},
                        server={"host": "127.0.0.1", "port": port},
                        surveys={"enabled": True, **surveys})  # fmt: skip


@asynccontextmanager
async def web(config: Path, port: int) -> AsyncIterator[str]:
    server = TestServer(create_app(settings_from(config)), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-3000:]


def body(m: ReceivedMail) -> str:
    part = m.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def links(m: ReceivedMail) -> dict[int, str]:
    return {int(n): url for n, url in LINK.findall(body(m))}


async def resolved_with_a_survey(config: Path, dovecot: Dovecot, smtp: SmtpSink, **mail_fields: str) -> ReceivedMail:
    """A family's mail becomes ticket 1, which staff resolve: the third mail they get is the survey."""
    dovecot.deliver(IMAP_USER, mail(**mail_fields))
    async with running_poller(config) as p:
        assert await p.pass_once() == 1
    work(config)
    done = intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", "New charger given.")
    assert done.returncode == 0, done.stderr
    work(config)
    _ack, resolved, survey = smtp.wait_for(3, timeout=DEADLINE_S)
    assert "/survey/" not in body(resolved) and "/survey/" in body(survey)  # the resolution first, then the survey
    return survey


def stored(redis_server: RedisServer) -> dict[str, str]:
    r = redis_server.client()
    [key] = [k.decode() for k in r.scan_iter(keys.survey("*"))]
    return {k.decode(): v.decode() for k, v in r.hgetall(key).items()}


async def test_a_resolved_email_request_gets_one_survey_whose_link_rates_in_one_click_and_takes_a_comment(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    port = free_port()
    config = survey_config(tmp_path, redis_server, dovecot, smtp_sink, port)
    survey = await resolved_with_a_survey(config, dovecot, smtp_sink)
    assert survey.rcpt_tos == ("ana.perez@example.org",)
    assert survey.message["Subject"] == "Re: Chromebook will not charge [#1]"  # threaded on the request
    rating_links = links(survey)
    assert sorted(rating_links) == [1, 2, 3, 4, 5]
    assert len(set(rating_links.values())) == 5
    assert all(url.startswith(f"http://127.0.0.1:{port}/survey/") for url in rating_links.values())

    async with web(config, port), chromium() as browser:
        page: Page = await browser.new_page(locale="en-US")
        first = await page.goto(rating_links[4])
        assert first is not None and first.status == 200
        await expect(page.locator("#rated")).to_have_text("You rated request #1: 4 out of 5.")
        await page.get_by_label("Anything else you want to tell us?").fill("Quick and kind, thank you.")
        await page.get_by_role("button", name="Send my comment").click()
        await expect(page.get_by_role("heading", name="Thank you for your comment")).to_be_visible()

        # Single use: the same link again, or another rating of the same survey, stores nothing more.
        again = await page.goto(rating_links[4])
        assert again is not None and again.status == 409
        await expect(page.get_by_role("heading", name="You already answered")).to_be_visible()
        other = await page.goto(rating_links[1])
        assert other is not None and other.status == 409

    answer = stored(redis_server)
    assert (answer["state"], answer["rating"], answer["via"]) == ("answered", "4", "link")
    assert answer["comment"] == "Quick and kind, thank you."
    about = (answer["channel"], answer["language"], answer["ticket"], answer["department"], answer["request"])
    assert about[:4] == ("email", "en", "1", "it") and about[4]
    assert answer["channels"] == "email"
    assert redis_server.client().zcard(keys.SURVEYS_ANSWERED) == 1


async def test_the_survey_is_in_the_familys_language_and_never_sent_twice_for_a_conversation(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = survey_config(tmp_path, redis_server, dovecot, smtp_sink, free_port())
    spanish = "Buenos días, la computadora de mi hija no enciende desde ayer. ¿Pueden ayudarnos, por favor?\n"
    survey = await resolved_with_a_survey(config, dovecot, smtp_sink, subject="Computadora", body=spanish)
    assert "¿Cómo lo hicimos?" in body(survey)
    assert "5 - Muy bien: http" in body(survey)
    # Reopened and resolved again: a new resolution message, but no second survey.
    for status in ("open", "resolved"):
        assert intake(config, "tickets", "update", "1", "--status", status).returncode == 0
        work(config)
    sent = smtp_sink.wait_for(5, timeout=DEADLINE_S)
    assert [m for m in sent if "/survey/" in body(m)] == [survey]


async def test_no_survey_goes_to_a_no_reply_address_and_the_skip_is_recorded(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = survey_config(tmp_path, redis_server, dovecot, smtp_sink, free_port())
    dovecot.deliver(IMAP_USER, mail(sender="Gradebook <no-reply@grades.vendor.example>"))
    async with running_poller(config) as p:
        assert await p.pass_once() == 1
    work(config)
    assert intake(config, "tickets", "update", "1", "--status", "resolved").returncode == 0
    work(config)
    skipped = stored(redis_server)
    assert skipped["state"] == "skipped"
    assert skipped["skipped"] == '{"email": "a no-reply address"}'
    assert smtp_sink.messages == []
