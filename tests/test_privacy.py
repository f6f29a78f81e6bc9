"""No bodies, phone numbers, emails, tokens or signatures in any log, from any process."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.logs import JsonFormatter, mask
from tests.conftest import Gateway, form
from tests.support.dovecot import Dovecot
from tests.support.gateway import SIGNING_SECRET, TOKEN, intake
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

NAME = "Marisol Quintanilla-Okafor"
EMAIL = "marisol.q.okafor@example.net"
PHONE_RAW = "(555) 867-5309"
PHONE = "+15558675309"
BODY = "My son Mateo has asthma and his inhaler is in locker 4471"
COMMENT = "Nurse Alvarez will call about the inhaler"
WRONG_TOKEN = "guessed-token-8a8a8a"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the in-process web app logs, through the same JSON formatter production uses."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_a_full_run_logs_none_of_the_personal_values_or_secrets(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, tmp_path: Path, captured: io.StringIO
) -> None:
    worker_log = tmp_path / "processes.log"
    payload = form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY)
    body = json.dumps(payload).encode()
    signature = hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()

    ok = await gateway.post_form(payload, key="privacy-1")
    signed = await gateway.http.post(
        gateway.base + "/hooks/webform", data=body, headers={"X-Intake-Signature": f"sha256={signature}"}
    )
    refused = await gateway.post_form(payload, token=WRONG_TOKEN)
    invalid = await gateway.post_form(form(email=EMAIL, category="nope", message=BODY))
    status_url = (await ok.json())["status_url"]
    page = await gateway.http.get(status_url)
    redis_server.stop(kill=True)
    spooled = await gateway.post_form(form(email=EMAIL, phone=PHONE_RAW, message=BODY + " (again)"), key="privacy-2")
    redis_server.start()
    assert [ok.status, signed.status, refused.status, invalid.status, spooled.status] == [202, 202, 401, 422, 202]
    assert page.status in (200, 503)

    intake(config_path, "worker", "--burst", log=worker_log)
    intake(config_path, "tickets", "update", "1", "--status", "in_progress", "--comment", COMMENT, log=worker_log)
    intake(config_path, "worker", "--burst", log=worker_log)
    intake(config_path, "doctor", log=worker_log)

    logs = captured.getvalue() + worker_log.read_text()
    assert "ticket created" in logs, "the run did not log what it should have: the test would prove nothing"
    for secret in (NAME, EMAIL, PHONE, PHONE_RAW, "867-5309", BODY, "locker 4471", COMMENT, TOKEN, WRONG_TOKEN,
                   SIGNING_SECRET, signature, status_url.rsplit("/", 1)[-1]):  # fmt: skip
        assert secret not in logs, f"a log line carries {secret[:12]}..."


@pytest.mark.parametrize(
    ("raw", "leak"),
    [
        ("call +1 (555) 867-5309 now", "867-5309"),
        ("from marisol@example.net", "marisol@example.net"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("X-Intake-Signature: sha256=0123abcd", "0123abcd"),
        ("https://x/?token=s3cr3t&a=1", "s3cr3t"),
        ("GET /Messages.json?To=%2B15558675309&PageSize=50", "15558675309"),
        ('"GET /status/01M81F4Y.qiSYkS-frvWO HTTP/1.1"', "qiSYkS-frvWO"),
    ],
)
def test_the_log_filter_masks_what_slips_through(raw: str, leak: str) -> None:
    assert leak not in mask(raw)


def test_the_log_filter_keeps_request_ids_and_ticket_numbers() -> None:
    line = "ticket 1234 for request 01M81EV6Y29MXDX1TSDB8KD5GK"
    assert mask(line) == line


async def test_the_email_channel_logs_no_addresses_subjects_or_bodies(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, captured: io.StringIO
) -> None:
    from tests.channels.email_support import mail, mail_config, running_poller
    from tests.mail_fixtures import IMAP_USER

    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    log = tmp_path / "processes.log"
    subject = "Mateo inhaler locker 4471"
    dovecot.deliver(IMAP_USER, mail(sender=f"{NAME} <{EMAIL}>", subject=subject, body=BODY + "\n"))
    dovecot.deliver(IMAP_USER, b"\x00\x01 not a message at all")  # quarantined: logged by uid only
    async with running_poller(config) as p:
        await p.pass_once()
    intake(config, "worker", "--burst", log=log)
    intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", COMMENT, log=log)
    intake(config, "worker", "--burst", log=log)
    assert len(smtp_sink.wait_for(2)) == 2
    logs = captured.getvalue() + log.read_text()
    assert "email sent" in logs and "quarantined" in logs, "nothing logged: the test would prove nothing"
    for secret in (NAME, EMAIL, subject, BODY, "locker 4471", COMMENT):
        assert secret not in logs, f"a log line carries {secret[:12]}..."


async def test_directory_lookups_log_no_addresses_names_or_passwords(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO
) -> None:
    from tests.conftest import start_gateway
    from tests.directory_fixtures import SEED, csv_settings, ldap_settings
    from tests.support.gateway import settings_from, write_config
    from tests.support.slapd import BIND_PASSWORD, Slapd

    log = tmp_path / "processes.log"
    with Slapd(SEED) as slapd:
        identity = {"csv": csv_settings(), "ldap": ldap_settings(slapd)}
        config = write_config(tmp_path, redis_server.url, identity=identity)
        server, http = await start_gateway(settings_from(config))
        gw = Gateway(server, http, settings_from(config))
        try:
            # Found in the CSV export, found in LDAP, found nowhere, and LDAP down: every path logs.
            up = [form(name="", email=None, phone="(555) 301-0001", message=BODY),
                  form(name="", email="maria.rivera@district.test", message=BODY),
                  form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY)]  # fmt: skip
            statuses = [(await gw.post_form(payload)).status for payload in up]
            slapd.stop()
            down = form(name="", email="j.chen@district.test", phone="555-201-0102", message=BODY)
            statuses.append((await gw.post_form(down)).status)
            intake(config, "doctor", log=log)
        finally:
            await http.close()
            await server.close()
    intake(config, "worker", "--burst", log=log)
    logs = captured.getvalue() + log.read_text()
    assert statuses == [202, 202, 202, 202], "a request did not get through: its lookups were not made"
    assert "directory unavailable" in logs and "directory file loaded" in logs, "nothing logged: proves nothing"
    for secret in (NAME, EMAIL, PHONE, "301-0001", "3010001", "Tran household", "maria.rivera", "Maria Rivera",
                   "j.chen", "201-0102", "2010102", BIND_PASSWORD, BODY):  # fmt: skip
        assert secret not in logs, f"a log line carries {secret[:12]}..."


async def test_the_sms_and_voice_channels_log_no_phone_numbers_bodies_or_signatures(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO
) -> None:
    from urllib.parse import quote

    from tests.channels.twilio_support import (
        ACCOUNT_SID,
        AUTH_TOKEN,
        MAIN,
        PUBLIC,
        sid,
        signature,
        sms,
        sms_gateway,
        twilio_config,
    )
    from tests.support.twilio_api import Failure, TwilioStandIn

    log = tmp_path / "processes.log"
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    try:
        api.failures = [Failure(503), Failure(502, create_anyway=True)]  # failures log too: they must not leak
        config = twilio_config(tmp_path, redis_server, api)
        media = api.add_media("MM" + "1" * 32, "ME" + "2" * 32, b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png")
        texts = [
            sms(BODY, From=PHONE),
            sms("STOP", From="+15550001111"),
            sms("HELP", From=PHONE),
            sms("Mateo locker photo", From=PHONE, NumMedia="2", MediaUrl0=media, MediaContentType0="image/png",
                MediaUrl1="https://169.254.169.254/latest/meta-data", MediaContentType1="image/png"),
        ]  # fmt: skip
        async with sms_gateway(config) as gw:
            for params in texts:
                assert (await gw.post("/hooks/twilio/sms", params))[0] == 200
            assert (await gw.post("/hooks/twilio/sms", sms(BODY, From=PHONE), token="wrong-token"))[0] == 403
            audio = api.recording_url(sid("RE"), b"RIFF" + b"\x00" * 40)
            recording = {"AccountSid": ACCOUNT_SID, "CallSid": sid("CA"), "From": PHONE, "To": MAIN,
                         "RecordingSid": sid("RE"), "RecordingUrl": audio, "RecordingDuration": "9",
                         "TranscriptionText": BODY}  # fmt: skip
            assert (await gw.post("/hooks/twilio/voice/recording?lang=en", recording))[0] == 200
            intake(config, "worker", "--burst", log=log)
            intake(config, "tickets", "update", "1", "--status", "in_progress", "--comment", COMMENT, log=log)
            intake(config, "worker", "--burst", log=log)
            sent = api.messages[0]["sid"]
            callback = {"MessageSid": sent, "MessageStatus": "undelivered", "ErrorCode": "30006",
                        "AccountSid": ACCOUNT_SID, "To": PHONE, "From": MAIN}  # fmt: skip
            assert (await gw.post("/hooks/twilio/status", callback))[0] == 200
            good_signature = signature(PUBLIC + "/hooks/twilio/sms", sms(BODY, From=PHONE))
    finally:
        api.stop()
    logs = captured.getvalue() + log.read_text()
    assert "text sent" in logs and "consent recorded" in logs and "media refused" in logs, "nothing logged"
    assert "text not sent" in logs, "the failure path did not run: the test would prove nothing"
    for secret in (PHONE, PHONE[2:], quote(PHONE), "+15550001111", BODY, "locker 4471", "Mateo locker photo", COMMENT,
                   AUTH_TOKEN, good_signature):  # fmt: skip
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."


async def test_refused_writes_and_replies_that_wait_log_no_personal_values(
    gateway: Gateway,
    redis_server: RedisServer,
    config_path: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    captured: io.StringIO,
) -> None:
    from tests.channels.email_support import mail_config
    from tests.gateway.store.test_durable_commit import spool_rows, wait_for

    log = tmp_path / "processes.log"
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")  # Redis answers OOM to every write
    try:
        spooled = await gateway.post_form(form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY), key="oom")
        assert (spooled.status, spool_rows(gateway.settings)) == (202, 1)
    finally:
        admin.config_set("maxmemory", "0")
    await wait_for(lambda: spool_rows(gateway.settings) == 0, timeout=60)
    intake(config_path, "worker", "--burst", log=log)  # the acknowledgement waits: no mailbox sends email
    (tmp_path / "smtp").mkdir()
    sending = mail_config(tmp_path / "smtp", redis_server, dovecot, smtp_sink)
    intake(sending, "doctor", log=log)
    intake(sending, "worker", "--burst", log=log)  # now one does: the reply is put back and mailed
    assert len(smtp_sink.wait_for(1)) == 1
    logs = captured.getvalue() + log.read_text()
    assert "redis cannot take the commit" in logs and "parked replies queued again" in logs, "proves nothing"
    for secret in (NAME, EMAIL, PHONE, PHONE_RAW, "867-5309", BODY, "locker 4471", TOKEN):
        assert secret not in logs, f"a log line carries {secret[:12]}..."
