"""The email channel end to end: a real Dovecot, a real SMTP server, real Redis, real rq workers."""

from __future__ import annotations

import json
from pathlib import Path

from gateway import keys
from tests.channels.email_support import BORDER, HELP, mail, mail_config, operator_views, running_poller
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from workers.backends.builtin import BuiltinBackend


def tickets(config: Path) -> BuiltinBackend:
    from tests.support.gateway import settings_from

    return BuiltinBackend.from_settings(settings_from(config))


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-3000:]


async def test_new_mail_becomes_a_ticket_moved_to_processed_and_never_marked_read(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        assert await p.pass_once() == 1
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert dovecot.message_count(IMAP_USER, "Processed") == 1
    client = dovecot.client()
    try:
        client.select("Processed")
        _, flags = client.fetch("1", "(FLAGS)")
    finally:
        client.logout()
    assert b"\\Seen" not in flags[0]
    work(config)
    store = tickets(config)
    assert store.count() == 1
    ticket = store.get("1")
    assert (ticket.channel, ticket.requester_email, ticket.subject) == (
        "email", "ana.perez@example.org", "Chromebook will not charge",
    )  # fmt: skip


async def test_the_acknowledgement_is_a_threaded_reply_that_marks_itself_automatic(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail(message_id="<first-ask@example.org>"))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    [ack] = smtp_sink.wait_for(1)
    m = ack.message
    assert ack.rcpt_tos == ("ana.perez@example.org",)
    assert m["Subject"] == "Re: Chromebook will not charge [#1]"
    assert m["In-Reply-To"] == "<first-ask@example.org>"
    assert "<first-ask@example.org>" in m["References"]
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["X-Loop"] == "intake-gateway"
    assert m["From"].endswith(f"<{HELP}>")
    assert "+" in m["Reply-To"] and m["Reply-To"].endswith("@district.example.org>")
    assert m.get_body(("plain",)) is not None and m.get_body(("html",)) is not None
    assert "ticket #1" in m.get_body(("plain",)).get_content()


async def test_a_reply_to_our_acknowledgement_lands_on_the_ticket_even_with_a_new_subject(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        [ack] = smtp_sink.wait_for(1)
        quoted = ack.message["Message-ID"]
        reply = mail(subject="something else entirely", body="It charges now with another cable.\n",
                     headers={"In-Reply-To": quoted, "References": quoted})  # fmt: skip
        dovecot.deliver(IMAP_USER, reply)
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 1
    comments = store.details("1").comments
    assert [c.body for c in comments] == ["It charges now with another cable."]


async def test_a_reply_to_a_staff_members_outlook_message_still_finds_the_ticket_by_an_older_reference(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    """Chatwoot #10028: staff answered from Outlook, so the family's reply quotes a Message-ID we never saw."""
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail(message_id="<first-ask@example.org>"))
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        [ack] = smtp_sink.wait_for(1)
        outlook = "<BN7PR11MB2609.namprd11.prod.outlook.com>"
        thread = f"<first-ask@example.org> {ack.message['Message-ID']} {outlook}"
        reply = mail(subject="RE: your Chromebook", body="Thank you, I will bring it Monday.\n",
                     headers={"In-Reply-To": outlook, "References": thread})  # fmt: skip
        dovecot.deliver(IMAP_USER, reply)
        # Another mail client keeps only the first message of the thread.
        dovecot.deliver(IMAP_USER, mail(subject="Chromebook", body="Also the charger is missing.\n",
                                        headers={"References": "<first-ask@example.org>"}))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 1
    assert sorted(c.body for c in store.details("1").comments) == [
        "Also the charger is missing.", "Thank you, I will bring it Monday.",
    ]  # fmt: skip


async def test_the_subject_tag_threads_a_participant_but_not_a_stranger(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        # Their mail client dropped the threading headers (a relay stripped them), the tag survives.
        dovecot.deliver(IMAP_USER, mail(subject="RE: [#1] Chromebook", body="Any news?\n"))
        dovecot.deliver(IMAP_USER, mail(sender="Eve <eve@elsewhere.example>", subject="[#1] Chromebook",
                                        body="Please send me the details of this ticket.\n"))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 2
    assert [c.body for c in store.details("1").comments] == ["Any news?"]
    assert store.get("2").requester_email == "eve@elsewhere.example"


async def test_two_senders_with_the_same_subject_never_merge(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail(sender="a@example.org", subject="Wi-Fi down at LHS"))
    dovecot.deliver(IMAP_USER, mail(sender="b@example.org", subject="Wi-Fi down at LHS"))
    dovecot.deliver(IMAP_USER, mail(sender="c@example.org", subject="Re: Wi-Fi down at LHS"))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    assert tickets(config).count() == 3


async def test_our_own_acknowledgement_fed_back_in_makes_no_ticket_and_no_reply(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        [ack] = smtp_sink.wait_for(1)
        dovecot.deliver(IMAP_USER, ack.raw)  # a forwarding rule or a bad alias sends it back to us
        assert await p.pass_once() == 1
    work(config)
    assert tickets(config).count() == 1
    assert len(smtp_sink.messages) == 1
    assert dovecot.message_count(IMAP_USER, "Processed") == 2


async def test_mail_carrying_our_x_loop_stamp_is_dropped_whatever_its_message_id(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    # A relay rewrote the Message-ID of our acknowledgement but kept our stamp (Zammad #1131, #4941).
    relayed = mail(sender="relay@lists.example.org", subject="Re: Chromebook will not charge [#1]",
                   message_id="<rewritten-1@lists.example.org>", headers={"X-Loop": "intake-gateway"})  # fmt: skip
    dovecot.deliver(IMAP_USER, relayed)
    dovecot.deliver(IMAP_USER, mail(sender="ana.perez@example.org", headers={"X-Loop": "someone-else"}))
    async with running_poller(config := mail_config(tmp_path, redis_server, dovecot, smtp_sink)) as p:
        assert await p.pass_once() == 2
    work(config)
    store = tickets(config)
    assert store.count() == 1
    assert store.get("1").requester_email == "ana.perez@example.org"
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [("ana.perez@example.org",)]


async def test_the_reply_address_alone_threads_a_participant_but_not_a_stranger(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    """A relay stripped the threading headers and the subject tag (Zammad #3022): the help+TOKEN address remains."""
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        [ack] = smtp_sink.wait_for(1)
        reply_to = ack.message["Reply-To"].split("<")[-1].rstrip(">")
        assert "+" in reply_to
        dovecot.deliver(IMAP_USER, mail(to=reply_to, subject="no subject", body="Still not charging.\n"))
        dovecot.deliver(IMAP_USER, mail(sender="eve@elsewhere.example", to=reply_to, subject="no subject",
                                        body="Tell me about this ticket.\n"))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 2
    assert [c.body for c in store.details("1").comments] == ["Still not charging."]
    assert store.get("2").requester_email == "eve@elsewhere.example"


async def test_automatic_mail_gets_no_acknowledgement(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    automatic = [
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"List-Id": "<parents.lists.example.org>"},
        {"Return-Path": "<>"},
    ]
    for i, headers in enumerate(automatic):
        dovecot.deliver(IMAP_USER, mail(sender=f"robot{i}@example.org", subject=f"Report {i}", headers=headers))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    assert tickets(config).count() == 4  # their content still reaches the desk
    assert smtp_sink.messages == []


async def test_out_of_office_joins_an_existing_conversation_but_opens_none(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail(sender="teacher@district-staff.example"))
    async with running_poller(config) as p:
        await p.pass_once()
        work(config)
        [ack] = smtp_sink.wait_for(1)
        ooo = {"Auto-Submitted": "auto-replied", "In-Reply-To": ack.message["Message-ID"]}
        dovecot.deliver(IMAP_USER, mail(sender="teacher@district-staff.example", subject="Out of office",
                                        body="I am out until Monday.\n", headers=ooo))  # fmt: skip
        dovecot.deliver(IMAP_USER, mail(sender="stranger@example.org", subject="Automatic reply: away",
                                        body="I am away.\n", headers={"Auto-Submitted": "auto-replied"}))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 1
    assert [c.body for c in store.details("1").comments] == ["I am out until Monday."]
    assert len(smtp_sink.messages) == 1


async def test_a_dmarc_failure_from_our_border_host_flags_the_sender_and_suppresses_the_reply(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    forged = {"Authentication-Results": f"{BORDER}; dmarc=fail (p=reject) header.from=bank.example"}
    trusted_only = {"Authentication-Results": "attacker.example; dmarc=fail header.from=example.org"}
    dovecot.deliver(IMAP_USER, mail(sender="ceo@bank.example", headers=forged))
    dovecot.deliver(IMAP_USER, mail(sender="ana@example.org", headers=trusted_only))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    assert tickets(config).count() == 2
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [("ana@example.org",)]


async def test_a_bounce_marks_the_address_undeliverable_and_makes_no_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dsn = (Path(__file__).parents[2] / "payloads" / "email" / "dsn_bounce.eml").read_bytes()
    dovecot.deliver(IMAP_USER, dsn)
    async with running_poller(config) as p:
        await p.pass_once()
        undeliverable = await p.runtime.redis.hgetall(keys.MAIL_UNDELIVERABLE)
    work(config)
    assert tickets(config).count() == 0
    assert undeliverable
    assert smtp_sink.messages == []


async def test_an_unparseable_message_is_quarantined_and_reported_by_doctor(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    garbage = (Path(__file__).parents[2] / "payloads" / "email" / "unparseable.bin").read_bytes()
    dovecot.deliver_many(IMAP_USER, [garbage, mail()])
    async with running_poller(config) as p:
        assert await p.pass_once() == 2
    assert dovecot.message_count(IMAP_USER, "Quarantine") == 1
    assert dovecot.message_count(IMAP_USER, "Processed") == 1
    doctor = intake(config, "doctor")
    assert "[FAIL] quarantine: 1 message(s) could not be parsed" in doctor.stdout
    work(config)
    assert tickets(config).count() == 1  # one bad message never blocks the rest
    # Zammad #1033: mail parked where nobody looks. The web process shows it where operators do look.
    ready, metrics = await operator_views(config)
    assert ready["mail_quarantined"] == 1
    assert "intake_mail_quarantined 1.0" in metrics


async def test_smtp_down_replies_wait_and_retry_and_tickets_are_unaffected(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
    smtp_sink.down()
    work(config)  # the ack fails every try: retried, then dead-lettered
    assert tickets(config).count() == 1
    smtp_sink.up()
    assert "replayed 1 job(s)" in intake(config, "replay").stdout
    work(config)
    assert len(smtp_sink.wait_for(1)) == 1


async def test_a_relay_that_never_answers_times_out_and_the_reply_waits_for_replay(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    """Chatwoot #15920: a send that hung was dropped. Ours times out (`timeout_s`), retries, then waits for replay."""
    import time

    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "security": "none", "timeout_s": 1}
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink, box={"smtp": smtp})
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(config) as p:
        await p.pass_once()
    smtp_sink.hang()
    started = time.monotonic()
    work(config)  # the first try and two retries, each cut off after 1 s
    assert time.monotonic() - started < 60  # a guard against a hang, far above the ~5 s it takes
    assert smtp_sink.stalled_connections == 3
    assert tickets(config).count() == 1
    smtp_sink.up()
    assert "replayed 1 job(s)" in intake(config, "replay").stdout
    work(config)
    assert len(smtp_sink.wait_for(1)) == 1


async def test_a_status_update_goes_out_by_email_in_the_requesters_language(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    spanish = "Buenos días, la computadora de mi hija no enciende desde ayer. ¿Pueden ayudarnos, por favor?\n"
    dovecot.deliver(IMAP_USER, mail(subject="Computadora", body=spanish))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", "Le cambiamos el cargador.")
    work(config)
    ack, resolved = smtp_sink.wait_for(2)
    assert "Recibimos su solicitud" in ack.message.get_body(("plain",)).get_content()
    assert resolved.message["Subject"] == "Re: Computadora [#1]"
    assert "Le cambiamos el cargador." in resolved.message.get_body(("plain",)).get_content()
    assert resolved.message["Auto-Submitted"] == "auto-generated"
    # Threaded on our own acknowledgement as well as their message.
    assert ack.message["Message-ID"] in resolved.message["References"]


async def test_a_no_reply_sender_gets_a_ticket_but_never_a_mail(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    """Chatwoot #5131, Zammad #2923: help desks answering no-reply addresses. Their content still reaches the desk."""
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    senders = ["Gradebook <no-reply@grades.vendor.example>", "DoNotReply@bus-tracker.example",
               "alerts+noreply@forms.example", "bounces+1234@mailer.example", "ana.perez@example.org"]  # fmt: skip
    for i, sender in enumerate(senders):
        dovecot.deliver(IMAP_USER, mail(sender=sender, subject=f"Notice {i}"))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    for ticket in range(1, 6):
        intake(config, "tickets", "update", str(ticket), "--status", "resolved", "--comment", "Handled.")
    work(config)
    assert tickets(config).count() == 5
    sent = smtp_sink.wait_for(2)
    assert {m.rcpt_tos for m in sent} == {("ana.perez@example.org",)}  # her acknowledgement and update only


async def test_automatic_replies_per_address_are_capped_per_day(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink, auto_replies_per_day=2)
    for i in range(4):
        dovecot.deliver(IMAP_USER, mail(subject=f"Question {i}"))
    async with running_poller(config) as p:
        await p.pass_once()
    work(config)
    assert tickets(config).count() == 4
    assert len(smtp_sink.messages) == 2


async def test_a_message_its_ticket_cannot_show_whole_carries_its_original_and_a_records_request_forgets_it(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    plain = mail(body="Keep me exactly as I came.\n")
    # No charset declared, Latin-1 bytes: the text is a guess (windows-1252), so staff may need the original.
    guessed = (
        b"From: Luis Ortega <luis@example.org>\r\nTo: help@district.example.org\r\nSubject: Autob\xfas\r\n"
        b"Message-ID: <guess-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nEl autob\xfas de la ruta 7 no lleg\xf3 hoy.\r\n"
    )
    dovecot.deliver_many(IMAP_USER, [plain, guessed])
    async with running_poller(config) as p:
        assert await p.pass_once() == 2
        settings = p.settings
    work(config)
    blobs = settings.path_in_data("blobs")
    # Both originals stay in the mailbox's processed folder; the gateway keeps a copy of the guessed one only.
    assert dovecot.message_count(IMAP_USER, "Processed") == 2
    [kept_file] = [f for f in blobs.rglob("*") if f.is_file()]
    store = tickets(config)
    by_sender = {t.requester_email: t for t in store.store.export()}
    assert store.details(str(by_sender["ana.perez@example.org"].id)).attachments == []
    [original] = store.details(str(by_sender["luis@example.org"].id)).attachments
    assert original.filename == "original-message.eml" and original.kept
    assert original.storage_key == kept_file.name
    assert kept_file.read_bytes().replace(b"\r\n", b"\n") == guessed.replace(b"\r\n", b"\n")

    out = intake(config, "purge", "--requester", "luis@example.org", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["blobs"] == 1
    assert not kept_file.exists()
    assert [t.requester_email for t in store.store.export()] == ["ana.perez@example.org"]
