"""The mail servers the email channel's tests run against, proven with the stdlib's own clients."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.dovecot import Dovecot
from tests.support.smtp_sink import SmtpSink

IMAP_USER, IMAP_PASSWORD = "helpdesk", "pw"  # the `dovecot` fixture's user


def message(subject: str, body: str = "The 7:10 bus did not come.") -> bytes:
    return (
        f"From: Ana <ana@example.org>\r\nTo: helpdesk@district.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


@contextmanager
def running(**options: Any) -> Iterator[Dovecot]:
    server = Dovecot(**options)
    server.add_user(IMAP_USER, IMAP_PASSWORD)
    with server:
        yield server


def fetch_subjects(client: imaplib.IMAP4, uids: str = "1:*") -> list[str]:
    typ, data = client.uid("FETCH", uids, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    return [part[1].decode().strip().removeprefix("Subject: ") for part in data if isinstance(part, tuple)]


def last_untagged(client: imaplib.IMAP4, name: str) -> str:
    value = client.untagged_responses[name][-1]
    assert isinstance(value, bytes)
    return value.decode()


def post_login_capabilities(client: imaplib.IMAP4) -> list[str]:
    return last_untagged(client, "CAPABILITY").split()


def selected_uidvalidity(client: imaplib.IMAP4, folder: str = "INBOX") -> int:
    client.select(folder)
    return int(last_untagged(client, "UIDVALIDITY"))


# -- Dovecot ---------------------------------------------------------------------------------------


def test_dovecot_starts_in_under_a_second() -> None:
    server = Dovecot()
    server.add_user(IMAP_USER, IMAP_PASSWORD)
    try:
        started = time.monotonic()
        server.start()
        elapsed = time.monotonic() - started
    finally:
        server.close()
    print(f"dovecot start to first LOGIN: {elapsed * 1000:.0f} ms")
    assert elapsed < 1


def test_helpdesk_logs_in_and_a_wrong_password_is_refused(dovecot: Dovecot) -> None:
    client = dovecot.client(IMAP_USER, IMAP_PASSWORD)
    assert client.select("INBOX") == ("OK", [b"0"])
    client.logout()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        dovecot.client(IMAP_USER, "not-the-password")


def test_delivered_message_is_fetched_byte_for_byte(dovecot: Dovecot) -> None:
    raw = message("Bus 12 late", "Lincoln stop, 7:10.")
    uid = dovecot.deliver(IMAP_USER, raw)
    client = dovecot.client()
    client.select("INBOX")
    typ, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
    client.logout()
    assert typ == "OK"
    assert data[0][1] == raw
    assert dovecot.folder_uids(IMAP_USER) == [uid]
    assert dovecot.message_count(IMAP_USER) == 1


def test_delivery_to_a_missing_folder_fails_instead_of_landing_in_inbox(dovecot: Dovecot) -> None:
    with pytest.raises(RuntimeError, match="doesn't exist"):
        dovecot.deliver(IMAP_USER, message("lost"), folder="Nope")
    assert dovecot.message_count(IMAP_USER) == 0


def test_delivery_into_a_created_folder(dovecot: Dovecot) -> None:
    dovecot.create_folder(IMAP_USER, "Processed/2025")
    uid = dovecot.deliver(IMAP_USER, message("archived"), folder="Processed/2025")
    assert "Processed/2025" in dovecot.folders(IMAP_USER)
    assert dovecot.folder_uids(IMAP_USER, "Processed/2025") == [uid]
    assert dovecot.message_count(IMAP_USER) == 0


def test_uid_move_moves_a_message_and_is_advertised(dovecot: Dovecot) -> None:
    dovecot.create_folder(IMAP_USER, "Processed")
    uid = dovecot.deliver(IMAP_USER, message("to move"))
    client = dovecot.client()
    assert "MOVE" in post_login_capabilities(client)
    client.select("INBOX")
    assert client.uid("MOVE", str(uid), "Processed")[0] == "OK"
    client.logout()
    assert dovecot.message_count(IMAP_USER) == 0
    assert dovecot.message_count(IMAP_USER, "Processed") == 1
    assert "UID MOVE 1 Processed" in dovecot.imap_commands(IMAP_USER)


def test_move_can_be_left_out_so_the_copy_store_expunge_fallback_runs() -> None:
    with running(disabled_capabilities={"MOVE"}) as server:
        server.create_folder(IMAP_USER, "Processed")
        uid = str(server.deliver(IMAP_USER, message("to copy")))
        client = server.client()
        assert "MOVE" not in client.capabilities
        assert "MOVE" not in post_login_capabilities(client)
        assert "UIDPLUS" in post_login_capabilities(client)
        client.select("INBOX")
        assert client.uid("COPY", uid, "Processed")[0] == "OK"
        assert client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
        assert client.uid("EXPUNGE", uid)[0] == "OK"
        client.logout()
        assert server.message_count(IMAP_USER) == 0
        assert server.message_count(IMAP_USER, "Processed") == 1
        assert not any(command.startswith("UID MOVE") for command in server.imap_commands())


def test_a_move_sent_despite_the_capability_is_executed_but_shows_in_the_command_log() -> None:
    with running(disabled_capabilities={"MOVE"}) as server:
        server.create_folder(IMAP_USER, "Processed")
        uid = str(server.deliver(IMAP_USER, message("moved anyway")))
        client = server.client()
        client.select("INBOX")
        client.uid("MOVE", uid, "Processed")
        client.logout()
        assert server.message_count(IMAP_USER, "Processed") == 1
        assert f"UID MOVE {uid} Processed" in server.imap_commands()


def test_restart_keeps_messages_uids_and_uidvalidity_and_drops_open_sessions(dovecot: Dovecot) -> None:
    for n in range(3):
        dovecot.deliver(IMAP_USER, message(f"before restart {n}"))
    before = dovecot.status(IMAP_USER)
    uids = dovecot.folder_uids(IMAP_USER)
    port = dovecot.port
    mid_fetch = dovecot.client()
    mid_fetch.select("INBOX")

    dovecot.restart()

    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        fetch_subjects(mid_fetch)
    mid_fetch.shutdown()
    assert dovecot.port == port
    assert dovecot.status(IMAP_USER) == before
    assert dovecot.folder_uids(IMAP_USER) == uids
    client = dovecot.client()
    assert selected_uidvalidity(client) == before["uidvalidity"]
    assert fetch_subjects(client) == ["before restart 0", "before restart 1", "before restart 2"]
    client.logout()


def test_kill_refuses_connections_until_started_again(dovecot: Dovecot) -> None:
    uid = dovecot.deliver(IMAP_USER, message("survives a crash"))
    dovecot.kill()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dovecot.host, dovecot.port), timeout=2)
    dovecot.start()
    assert dovecot.folder_uids(IMAP_USER) == [uid]


def test_bump_uidvalidity_gives_a_higher_uidvalidity_and_renumbers_from_one(dovecot: Dovecot) -> None:
    for n in range(3):
        dovecot.deliver(IMAP_USER, message(f"message {n}"))
    client = dovecot.client()
    client.select("INBOX")
    client.uid("STORE", "1:2", "+FLAGS.SILENT", r"(\Deleted)")
    client.expunge()
    client.logout()
    before = dovecot.uidvalidity(IMAP_USER)
    assert dovecot.folder_uids(IMAP_USER) == [3]
    open_session = dovecot.client()
    assert selected_uidvalidity(open_session) == before

    after = dovecot.bump_uidvalidity(IMAP_USER)

    with pytest.raises(imaplib.IMAP4.abort, match="Server shutting down"):
        open_session.noop()
    open_session.shutdown()
    assert after > before
    assert dovecot.folder_uids(IMAP_USER) == [1]
    client = dovecot.client()
    assert client.status("INBOX", "(UIDVALIDITY)") == ("OK", [f"INBOX (UIDVALIDITY {after})".encode()])
    assert selected_uidvalidity(client) == after
    assert fetch_subjects(client) == ["message 2"]
    client.logout()


def test_bump_uidvalidity_of_a_subfolder_leaves_inbox_alone(dovecot: Dovecot) -> None:
    dovecot.create_folder(IMAP_USER, "Processed")
    dovecot.deliver(IMAP_USER, message("filed"), folder="Processed")
    inbox = dovecot.uidvalidity(IMAP_USER)
    before = dovecot.uidvalidity(IMAP_USER, "Processed")
    assert dovecot.bump_uidvalidity(IMAP_USER, "Processed") > before
    assert dovecot.uidvalidity(IMAP_USER) == inbox


def test_deliver_many_puts_2000_messages_in_order_in_well_under_20_seconds(dovecot: Dovecot) -> None:
    messages = [message(f"bulk {n}") for n in range(2000)]
    started = time.monotonic()
    dovecot.deliver_many(IMAP_USER, messages)
    elapsed = time.monotonic() - started
    print(f"deliver_many of 2,000 messages: {elapsed:.2f} s")
    assert elapsed < 20
    assert dovecot.folder_uids(IMAP_USER) == list(range(1, 2001))
    client = dovecot.client()
    client.select("INBOX")
    assert fetch_subjects(client) == [f"bulk {n}" for n in range(2000)]
    client.logout()


def test_deliver_many_twice_keeps_the_order_across_calls(dovecot: Dovecot) -> None:
    dovecot.deliver_many(IMAP_USER, [message("first")])
    dovecot.deliver_many(IMAP_USER, [message("second"), message("third")])
    client = dovecot.client()
    client.select("INBOX")
    assert fetch_subjects(client) == ["first", "second", "third"]
    client.logout()


def test_tls_serves_imaps_and_starttls_with_a_certificate_clients_can_verify() -> None:
    with running(tls=True) as server:
        assert server.imaps_port is not None
        with imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=server.ssl_context()) as imaps:
            assert imaps.login(IMAP_USER, IMAP_PASSWORD)[0] == "OK"
        plain = imaplib.IMAP4(server.host, server.port)
        assert "STARTTLS" in plain.capabilities
        plain.starttls(ssl_context=server.ssl_context())
        assert plain.login(IMAP_USER, IMAP_PASSWORD)[0] == "OK"
        plain.logout()


def test_a_dovecot_that_cannot_start_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound without SO_REUSEADDR, so Dovecot's bind fails
        server = Dovecot(port=taken.getsockname()[1])
        try:
            with pytest.raises(RuntimeError, match="Address already in use"):
                server.start()
        finally:
            server.close()


def test_close_removes_the_server_and_its_mail() -> None:
    with running() as server:
        server.deliver(IMAP_USER, message("gone after close"))
    assert not server.root.exists()
    assert server.proc is None


# -- SMTP sink -------------------------------------------------------------------------------------


def send(sink: SmtpSink, raw: bytes, to: tuple[str, ...] = ("ana@example.org",)) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.sendmail("helpdesk@district.example", list(to), raw)


def test_smtp_sink_records_envelope_raw_bytes_and_parsed_message(smtp_sink: SmtpSink) -> None:
    raw = message("Re: Bus 12 late", "A replacement bus is on its way.")
    send(smtp_sink, raw, to=("ana@example.org", "cc@example.org"))
    [mail] = smtp_sink.messages
    assert mail.mail_from == "helpdesk@district.example"
    assert mail.rcpt_tos == ("ana@example.org", "cc@example.org")
    assert mail.raw == raw
    assert mail.message["Subject"] == "Re: Bus 12 late"
    assert mail.message.get_content().rstrip() == "A replacement bus is on its way."
    assert (mail.login, mail.tls) == (None, False)


def test_smtp_sink_without_credentials_offers_no_auth(smtp_sink: SmtpSink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert not client.has_extn("starttls")


def test_fail_next_fails_that_many_transactions_with_a_temporary_error(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as failure:
            send(smtp_sink, message("retry me"))
        assert failure.value.smtp_code == 451
    send(smtp_sink, message("retry me"))
    assert smtp_sink.attempts == 3
    assert [mail.message["Subject"] for mail in smtp_sink.messages] == ["retry me"]


def test_fail_next_can_reject_permanently(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(1, code=550)
    with pytest.raises(smtplib.SMTPDataError) as failure:
        send(smtp_sink, message("rejected"))
    assert failure.value.smtp_code == 550
    assert smtp_sink.messages == []


def test_down_refuses_and_drops_sessions_and_up_accepts_again_on_the_same_port(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, message("before"))
    open_session = smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5)
    open_session.ehlo()

    smtp_sink.down()

    assert not smtp_sink.is_up
    with pytest.raises(smtplib.SMTPServerDisconnected):
        open_session.noop()
    open_session.close()
    with pytest.raises(ConnectionRefusedError):
        send(smtp_sink, message("while down"))
    smtp_sink.up()
    send(smtp_sink, message("after"))
    assert [mail.message["Subject"] for mail in smtp_sink.messages] == ["before", "after"]


def test_auth_is_required_and_checked_when_credentials_are_set() -> None:
    with SmtpSink(credentials=("relay", "s3cret")) as sink, smtplib.SMTP(sink.host, sink.port) as client:
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("helpdesk@district.example", ["ana@example.org"], message("anonymous"))
        assert refused.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("relay", "wrong")
        client.login("relay", "s3cret")
        client.sendmail("helpdesk@district.example", ["ana@example.org"], message("authenticated"))
        [mail] = sink.messages
        assert mail.login == "relay"


def test_starttls_is_required_and_recorded_and_auth_comes_after_it() -> None:
    with SmtpSink(credentials=("relay", "s3cret"), starttls=True) as sink:
        with smtplib.SMTP(sink.host, sink.port) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            assert not client.has_extn("auth")
            with pytest.raises(smtplib.SMTPSenderRefused):
                client.sendmail("helpdesk@district.example", ["ana@example.org"], message("in clear"))
        with smtplib.SMTP(sink.host, sink.port) as client:
            client.starttls(context=sink.ssl_context())
            client.login("relay", "s3cret")
            client.sendmail("helpdesk@district.example", ["ana@example.org"], message("over tls"))
        [mail] = sink.messages
        assert (mail.tls, mail.login) == (True, "relay")


def test_smtp_sink_receives_from_another_process(smtp_sink: SmtpSink) -> None:
    script = (
        "import smtplib, sys\n"
        "with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as c:\n"
        "    c.sendmail('worker@district.example', ['ana@example.org'], sys.argv[2].encode())\n"
    )
    raw = "Subject: from a worker\r\n\r\nhi\r\n"
    subprocess.run([sys.executable, "-c", script, str(smtp_sink.port), raw], check=True, timeout=30)
    [mail] = smtp_sink.wait_for(1, timeout=5)
    assert mail.message["Subject"] == "from a worker"


def test_wait_for_gives_up_with_what_arrived(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, message("only one"))
    with pytest.raises(AssertionError, match="1 of 2 messages"):
        smtp_sink.wait_for(2, timeout=0.2)
