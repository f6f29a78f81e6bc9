"""The `email` backend (email-forward): requests mailed to a help desk's intake address through a real SMTP server
(tests/support/smtp_sink.py), read back strictly, threaded by Message-ID."""

from __future__ import annotations

import base64
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway.web.status_links import short_reference
from tests.channels.twilio_support import PARENT, PUBLIC, sms_gateway, text_in, twilio_settings, work
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import ReceivedMail, SmtpSink
from tests.support.twilio_api import TwilioStandIn

DESK = "helpdesk@desk.example.com"
FROM = "help@district.example.org"


def relay(sink: SmtpSink) -> dict[str, Any]:
    return {"host": sink.host, "port": sink.port, "security": "none", "timeout_s": 10}


def strict(mail: ReceivedMail) -> EmailMessage:
    """The mail as a strict parser reads it: any defect (a bad header, a broken MIME part) raises."""
    parsed = BytesParser(policy=email.policy.strict).parsebytes(mail.raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def to_desk(sink: SmtpSink, count: int) -> list[EmailMessage]:
    mails = [m for m in sink.wait_for(count, timeout=60) if DESK in m.rcpt_tos]
    return [strict(m) for m in mails]


async def test_a_text_is_forwarded_well_formed_and_its_follow_up_threads_on_it(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, smtp_sink: SmtpSink
) -> None:
    section = {"forward_to": DESK, "smtp": relay(smtp_sink), "from_address": FROM}
    config = write_config(tmp_path, redis_server.url, server={"public_base_url": PUBLIC},
                          channels={"twilio": twilio_settings(standin)},
                          backends={"default": "email", "email": section})  # fmt: skip
    async with sms_gateway(config) as gw:
        await text_in(gw, "The 7:10 bus did not come")
        work(config)
        [first] = to_desk(smtp_sink, 1)
        await text_in(gw, "It came 40 minutes late")
        work(config)
    [_, follow_up] = to_desk(smtp_sink, 2)
    request_id = first["X-Intake-Request-Id"]
    assert first["Message-ID"] == f"<intake.{request_id}@district.example.org>"
    assert (first["To"], first["From"].addresses[0].addr_spec) == (DESK, FROM)
    assert first["Subject"] == f"The 7:10 bus did not come (request {short_reference(request_id)})"
    assert first["Reply-To"] is None  # a texter has no address: the body says how to reach them
    assert (first["X-Intake-Channel"], first["X-Loop"]) == ("sms", "intake-gateway")
    body = first.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert text.startswith("The 7:10 bus did not come\n") and PARENT in text and "No email address" in text
    assert follow_up["In-Reply-To"] == first["Message-ID"] and follow_up["References"] == first["Message-ID"]
    assert follow_up["Subject"] == f"Re: request {short_reference(request_id)}: It came 40 minutes late"
    assert follow_up["Message-ID"] != first["Message-ID"]


async def test_a_form_request_goes_from_the_mailbox_with_the_requester_as_reply_to_and_its_files(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    mailbox = {
        "address": FROM,
        "display_name": "Lincoln Help Desk",
        "smtp": relay(smtp_sink),
        "imap": {"host": "127.0.0.1", "port": 1, "security": "none"},
    }  # never polled here
    fmap = {"queue": {"transportation": "Transport"}}
    config = write_config(tmp_path, redis_server.url, channels={"email": {"mailboxes": {"help": mailbox}}},
                          backends={"default": "email", "email": {"forward_to": DESK, "map": fmap}})  # fmt: skip
    photo = b"\x89PNG\r\n\x1a\n" + b"\x01" * 300
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        files = [{"filename": "bus stop.png", "content_type": "image/png",
                  "data_base64": base64.b64encode(photo).decode()}]  # fmt: skip
        resp = await Gateway(server, http, settings).post_form(form(attachments=files))
        assert resp.status == 202
    finally:
        await http.close()
        await server.close()
    work(config)
    mail = next(m for m in smtp_sink.wait_for(2, timeout=60) if DESK in m.rcpt_tos)  # the other: Ana's receipt
    msg = strict(mail)
    assert str(msg["From"]) == "Ana Pérez via Lincoln Help Desk <help@district.example.org>"
    assert str(msg["Reply-To"]) == "Ana Pérez <ana.perez@example.org>"
    assert (msg["X-Intake-Queue"], msg["X-Intake-School"], msg["X-Intake-Language"]) == ("Transport", "lhs", "es")
    [attached] = list(msg.iter_attachments())
    assert (attached.get_filename(), attached.get_content_type()) == ("bus stop.png", "image/png")
    assert attached.get_content() == photo


async def test_a_forward_the_relay_refuses_is_dead_lettered_with_its_words(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    section = {"forward_to": DESK, "smtp": relay(smtp_sink), "from_address": FROM}
    config = write_config(tmp_path, redis_server.url, backends={"default": "email", "email": section})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        assert (await Gateway(server, http, settings).post_form(form())).status == 202
    finally:
        await http.close()
        await server.close()
    smtp_sink.fail_next(1, 554, "5.7.1 Message rejected by policy")
    assert intake(config, "worker", "--burst").returncode == 0
    q = Queue("deliver-email", connection=redis_server.client(), serializer=JSONSerializer)
    assert len(FailedJobRegistry(queue=q).get_job_ids()) == 1 and smtp_sink.attempts == 1
    doctor = intake(config, "doctor")
    assert "BackendRefused: email: forward: the SMTP server answered 554 5.7.1 Message rejected by policy" in (
        doctor.stdout
    )


def test_check_config_logs_in_to_the_relay_and_says_when_nothing_can_send(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    section = {"forward_to": DESK, "smtp": relay(smtp_sink), "from_address": FROM}
    config = write_config(tmp_path, redis_server.url, backends={"email": section})
    ok = intake(config, "check-config")
    assert ok.returncode == 0 and "backend email: ok" in ok.stdout, ok.stderr
    smtp_sink.down()
    away = intake(config, "check-config")
    assert away.returncode == 2
    assert f"backend email: SMTP 127.0.0.1:{smtp_sink.port}: login: SMTPConnectError" in away.stderr
    nothing = write_config(tmp_path, redis_server.url, backends={"email": {"forward_to": DESK}})
    refused = intake(nothing, "check-config")
    assert refused.returncode == 2
    assert "key backends.email.mailbox: nothing sends the forwarded mail" in refused.stderr
