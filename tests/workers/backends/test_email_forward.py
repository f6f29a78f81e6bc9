"""The `email` backend (email-forward): requests mailed to a help desk's intake address through a real SMTP server
(tests/support/smtp_sink.py), read back strictly, threaded by Message-ID."""

from __future__ import annotations

import base64
import email.policy
import os
import signal
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.intake.conversations import reply_token_for
from gateway.web.status_links import short_reference
from tests.channels.email_support import BORDER, HELP, Poller, mail, mailbox_conf, running_poller
from tests.channels.twilio_support import PARENT, PUBLIC, SPANISH, sms_gateway, text_in, texts, twilio_settings, work
from tests.conftest import Gateway, form, start_gateway
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from, start_process, write_config
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import ReceivedMail, SmtpSink
from tests.support.twilio_api import TwilioStandIn
from tests.support.waiting import eventually
from tests.workers.backends.helpdesk_support import request_ids, status_page
from workers.backends.email_answers import is_help_desk
from workers.backends.email_forward import EmailForwardSettings

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


# --- the way back: the help desk's mail to the relay address, read by the real poller from Dovecot ---------------

ANSWER = "El autobús 12 pasará mañana a las 7:40; el conductor ya sabe de su parada."


def relay_config(tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, sink: SmtpSink,
                 standin: TwilioStandIn, **backend: Any) -> Path:  # fmt: skip
    """Texts through the Twilio stand-in; requests forwarded to DESK from the `help` mailbox, whose plus-addresses
    are the relay addresses its poller reads back from Dovecot."""
    email = {"mailboxes": {"help": mailbox_conf(dovecot, sink)}, "border_host": BORDER, "poll_interval_s": 0.5}
    return write_config(tmp_path, redis_server.url, server={"public_base_url": PUBLIC},
                        channels={"twilio": twilio_settings(standin), "email": email},
                        backends={"default": "email", "email": {"forward_to": DESK, **backend}})  # fmt: skip


def desk_mail(to: str, subject: str, body: str, *, sender: str = f"Jordan Rivera <{DESK}>", **headers: str) -> bytes:
    """A mail as the help desk sends it: its own Message-ID, threaded on our forward."""
    return mail(sender=sender, to=to, subject=subject, body=body, headers=headers,
                message_id=make_msgid(domain="desk.example.com"))  # fmt: skip


def quoted(first: EmailMessage) -> str:
    body = first.get_body(("plain",))
    assert body is not None
    return "\n".join("> " + line for line in body.get_content().splitlines())


async def deliver_and_poll(dovecot: Dovecot, poller: Poller, raw: bytes) -> None:
    """The help desk's mail arrives in the gateway's mailbox as an MTA delivers it, and one poll reads it."""
    dovecot.deliver(IMAP_USER, raw, sender=DESK)
    assert await poller.pass_once() == 1
    assert dovecot.message_count(IMAP_USER) == 0  # read and moved, not left for a later pass


async def test_a_text_its_follow_up_the_desks_answer_and_its_closing_mail_go_both_ways(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, standin: TwilioStandIn
) -> None:
    config = relay_config(tmp_path, redis_server, dovecot, smtp_sink, standin)
    async with sms_gateway(config) as gw, running_poller(config) as poller:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [first] = to_desk(smtp_sink, 1)
        [rid] = request_ids(redis_server)
        relay = first["Reply-To"].addresses[0]
        token = reply_token_for(rid).lower()  # the conversation's own reply token: a new text's id is its conversation
        assert relay.addr_spec == f"help+{token}@district.example.org"
        assert relay.display_name == f"Requester {short_reference(rid)}"
        assert first["Subject"] == f"El autobús 12 no pasó hoy (request {short_reference(rid)})"

        await text_in(gw, "Llegó 40 minutos tarde", To=SPANISH)
        work(config)
        [_, follow_up] = to_desk(smtp_sink, 2)
        assert follow_up["In-Reply-To"] == first["Message-ID"] and follow_up["References"] == first["Message-ID"]
        assert follow_up["Subject"] == f"Re: request {short_reference(rid)}: Llegó 40 minutos tarde"
        assert follow_up["Reply-To"].addresses[0].addr_spec == relay.addr_spec

        # Staff answer from the help desk, replying to the forward: to the relay address, quoting it.
        answer = desk_mail(relay.addr_spec, f"Re: {first['Subject']}", f"{ANSWER}\n\nOn Monday you wrote:\n"
                           f"{quoted(first)}\n", **{"In-Reply-To": first["Message-ID"]})  # fmt: skip
        await deliver_and_poll(dovecot, poller, answer)
        work(config)
        # The help desk closes the ticket and its automation says so, as help desks do: an automatic notice.
        closing = desk_mail(relay.addr_spec, f"Ticket Resolved - {first['Subject']}",
                            "Your ticket has been resolved. Reply to this mail to reopen it.\n",
                            **{"In-Reply-To": first["Message-ID"], "Auto-Submitted": "auto-generated"})  # fmt: skip
        await deliver_and_poll(dovecot, poller, closing)
        work(config)
        bodies = [t["Body"] for t in texts(standin)]
        assert bodies[0].startswith("Recibimos su mensaje")
        assert bodies[1:] == [
            f"Solicitud #{rid}, respuesta de la mesa de ayuda: {ANSWER}",
            f"Solicitud #{rid} resuelta. ¿Sigue el problema? Escriba NUEVO y cuéntenos.",
        ]
        assert all(t["To"] == PARENT and t["From"] == SPANISH for t in texts(standin))
        html = await status_page(gw, rid)
    assert 'data-status="resolved"' in html and ANSWER in html
    # Neither mail became a request, nor went back to the help desk.
    assert len(request_ids(redis_server)) == 2 and len(to_desk(smtp_sink, 2)) == 2


def desk_mails(sink: SmtpSink) -> list[EmailMessage]:
    """What reached the help desk so far (each worker run ends only once its mail is accepted)."""
    return [strict(m) for m in sink.messages if DESK in m.rcpt_tos]


async def test_mail_to_a_relay_address_from_anyone_but_the_help_desk_never_reaches_the_family(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, standin: TwilioStandIn
) -> None:
    config = relay_config(tmp_path, redis_server, dovecot, smtp_sink, standin)
    async with sms_gateway(config) as gw, running_poller(config) as poller:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [first] = desk_mails(smtp_sink)
        [rid] = request_ids(redis_server)
        relay = first["Reply-To"].addresses[0].addr_spec
        # A stranger who learnt the relay address, and someone forging the help desk's address (our border host
        # says its domain failed DMARC), each "answer" the family.
        stranger = mail(sender="Mallory <mallory@example.net>", to=relay, subject=f"Re: {first['Subject']}",
                        body="Su ruta fue cancelada. Pague la multa aquí: http://pay.example.net\n")  # fmt: skip
        failed = {"Authentication-Results": f"{BORDER}; dmarc=fail (p=reject) header.from=desk.example.com"}
        forged = desk_mail(relay, f"Re: {first['Subject']}", "Pague la multa aquí: http://pay.example.net\n", **failed)
        for raw in (stranger, forged):
            dovecot.deliver(IMAP_USER, raw, sender="mallory@example.net")
            assert await poller.pass_once() == 1
        work(config)
        html = await status_page(gw, rid)
    assert [t["Body"][:19] for t in texts(standin)] == ["Recibimos su mensaje"[:19]]  # the acknowledgement only
    assert "pay.example.net" not in html and 'data-status="new"' in html
    # The stranger's mail is what any mail from a stranger is: a request of its own, forwarded as one.
    [_, theirs] = request_ids(redis_server)
    conversation = redis_server.client().hget(keys.request(theirs), "conversation")
    assert conversation is not None and conversation.decode() == theirs != rid
    [_, forwarded] = desk_mails(smtp_sink)
    assert forwarded["X-Intake-Request-Id"] == theirs and forwarded["X-Intake-Channel"] == "email"
    assert forwarded["Reply-To"].addresses[0].addr_spec == "mallory@example.net"


async def test_the_help_desks_own_mail_never_loops_back_to_it_nor_reaches_the_family_unless_a_person_wrote_it(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, standin: TwilioStandIn
) -> None:
    config = relay_config(tmp_path, redis_server, dovecot, smtp_sink, standin)
    async with sms_gateway(config) as gw, running_poller(config) as poller:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [first] = desk_mails(smtp_sink)
        relay = first["Reply-To"].addresses[0].addr_spec
        body = first.get_body(("plain",))
        assert body is not None
        thread = {"In-Reply-To": first["Message-ID"]}
        # Its acknowledgement to the "requester" (an automatic reply), a notification that echoes our forward in
        # full as its own text, and a digest sent to the mailbox itself, on no relay address.
        acknowledged = desk_mail(relay, f"Request received: {first['Subject']}",
                                 "We received your request. An agent will answer soon.\n",
                                 **thread, **{"Auto-Submitted": "auto-replied"})  # fmt: skip
        echoed = desk_mail(relay, f"New ticket: {first['Subject']}", body.get_content(), **thread)
        digest = desk_mail(HELP, "Your open tickets this week", "1 open ticket: El autobús 12 no pasó hoy\n")
        # And the same person's answer delivered twice (a retried delivery): told once.
        answer = desk_mail(relay, f"Re: {first['Subject']}", f"{ANSWER}\n", **thread)
        for raw in (acknowledged, echoed, digest, answer, answer):
            dovecot.deliver(IMAP_USER, raw, sender=DESK)
            assert await poller.pass_once() == 1
        work(config)
        [rid] = request_ids(redis_server)  # none of them became a request ...
    assert len(desk_mails(smtp_sink)) == 1  # ... nor went back to the help desk
    assert [t["Body"] for t in texts(standin)][1:] == [f"Solicitud #{rid}, respuesta de la mesa de ayuda: {ANSWER}"]
    assert dovecot.message_count(IMAP_USER, "Processed") == 5


def test_the_default_closing_rule_knows_resolved_and_closed_notices_in_english_and_spanish() -> None:
    rule = EmailForwardSettings(forward_to=DESK).closing
    closing = [
        ("Resolved: The bus did not come (request K7QM-2XPA)", ""),
        ("Ticket Resolved - The bus did not come", ""),
        ("[District Desk] Ticket closed", ""),
        ("Re: Request #4411 has been solved", ""),
        ("Solicitud resuelta: El autobús no pasó", ""),
        ("Caso #88 cerrado", ""),
        ("Re: The bus did not come", "Your request (#4411) has been solved. Reply to reopen it."),
        ("Re: El autobús no pasó", "Su solicitud ha sido resuelta."),
        ("Re: El autobús no pasó", "Le confirmamos que se ha solucionado."),
    ]
    answers = [
        ("Re: School closed tomorrow? (request K7QM-2XPA)", "Yes: all schools are shut for snow."),
        ("Re: El autobús no pasó", "El conductor ya sabe de su parada."),
        ("Re: Closed captions on the board video", "We are looking into it."),
    ]
    assert [rule.closes(s, b) for s, b in closing] == [True] * len(closing)
    assert [rule.closes(s, b) for s, b in answers] == [False] * len(answers)
    own = EmailForwardSettings(forward_to=DESK, closing={"subject": [r"^\[DONE\]"], "body": []}).closing
    assert own.closes("[DONE] bus", "") and not own.closes("Resolved: bus", "has been resolved")


def test_a_closing_rule_or_help_desk_address_that_cannot_be_one_stops_the_gateway_naming_the_key(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink
) -> None:
    section = {"forward_to": DESK, "smtp": relay(smtp_sink), "from_address": FROM,
               "closing": {"subject": ["(resolved"]}, "answers_from": ["desk.example.com"]}  # fmt: skip
    config = write_config(tmp_path, redis_server.url, backends={"email": section})
    refused = intake(config, "check-config")
    assert refused.returncode == 2
    assert "backends.email.closing.subject" in refused.stderr and "'(resolved' is not a regular expression" in (
        refused.stderr
    )
    assert "backends.email.answers_from" in refused.stderr and "not an address or @domain" in refused.stderr


async def test_intake_mail_relays_the_desks_answer_with_no_test_code_polling(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, standin: TwilioStandIn
) -> None:
    """The process a deployment runs (`intake mail`, Procfile `mail`) reads the relay, not only a poller in here."""
    config = relay_config(tmp_path, redis_server, dovecot, smtp_sink, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
    work(config)
    [first] = desk_mails(smtp_sink)
    [rid] = request_ids(redis_server)
    relay_address = first["Reply-To"].addresses[0].addr_spec
    log = tmp_path / "mail.log"
    poller = start_process(config, log, "mail")
    try:
        dovecot.deliver(IMAP_USER, desk_mail(relay_address, f"Re: {first['Subject']}", f"{ANSWER}\n"), sender=DESK)

        def moved() -> bool:  # the poller makes its Processed folder once logged in: until then, nothing to count
            return "Processed" in dovecot.folders(IMAP_USER) and dovecot.message_count(IMAP_USER, "Processed") == 1

        await eventually(moved, "intake mail moved the answer", timeout=170)
    finally:
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=60)
    work(config)
    assert [t["Body"] for t in texts(standin)][1:] == [f"Solicitud #{rid}, respuesta de la mesa de ayuda: {ANSWER}"]
    assert len(request_ids(redis_server)) == 1 and len(desk_mails(smtp_sink)) == 1


def test_the_help_desk_is_forward_to_unless_answers_from_names_its_addresses_or_its_domain() -> None:
    default = EmailForwardSettings(forward_to=DESK).help_desk()
    senders = (DESK, "HelpDesk+reply@Desk.Example.com", "agent@desk.example.com")
    assert [is_help_desk(a, default) for a in senders] == [True, True, False]
    named = EmailForwardSettings(forward_to=DESK, answers_from=["noreply@desk.example.com", "@agents.example.com"])
    senders = ("noreply@desk.example.com", "j.rivera@agents.example.com", DESK, "x@evil-agents.example.com")
    assert [is_help_desk(a, named.help_desk()) for a in senders] == [True, True, False, False]
