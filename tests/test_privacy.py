"""No bodies, phone numbers, emails, tokens or signatures in any log, from any process."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gateway import signatures
from gateway.logs import mask
from tests.conftest import Gateway, form, start_gateway
from tests.redmine_fixtures import Staff
from tests.support.dovecot import Dovecot
from tests.support.gateway import SIGNING_SECRET, TOKEN, intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.redmine import RedmineServer
from tests.support.rt import RequestTracker
from tests.support.smtp_sink import SmtpSink

NAME = "Marisol Quintanilla-Okafor"
EMAIL = "marisol.q.okafor@example.net"
PHONE_RAW = "(555) 867-5309"
PHONE = "+15558675309"
BODY = "My son Mateo has asthma and his inhaler is in locker 4471"
COMMENT = "Nurse Alvarez will call about the inhaler"
WRONG_TOKEN = "guessed-token-8a8a8a"


async def test_a_full_run_logs_none_of_the_personal_values_or_secrets(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, tmp_path: Path, captured: io.StringIO
) -> None:
    worker_log = tmp_path / "processes.log"
    payload = form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY)
    body = json.dumps(payload).encode()
    header = signatures.sign(SIGNING_SECRET.encode(), body, time.time())
    signature = header.rsplit("v1=", 1)[1]
    legacy = hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()
    stale_header = signatures.sign(SIGNING_SECRET.encode(), body, time.time() - 3600)

    ok = await gateway.post_form(payload, key="privacy-1")
    signed = await gateway.http.post(gateway.base + "/hooks/webform", data=body, headers={"X-Intake-Signature": header})
    for refused_header in (f"sha256={legacy}", stale_header):  # a source not marked legacy; an old timestamp
        resp = await gateway.http.post(
            gateway.base + "/hooks/webform", data=body, headers={"X-Intake-Signature": refused_header}
        )
        assert resp.status == 401
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
                   SIGNING_SECRET, signature, legacy, stale_header, status_url.rsplit("/", 1)[-1]):  # fmt: skip
        assert secret not in logs, f"a log line carries {secret[:12]}..."


@pytest.mark.parametrize(
    ("raw", "leak"),
    [
        ("call +1 (555) 867-5309 now", "867-5309"),
        ("from marisol@example.net", "marisol@example.net"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("X-Intake-Signature: sha256=0123abcd", "0123abcd"),
        ("X-Intake-Signature: t=1764000000,v1=9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ("X-Intake-Signature: t=1767225600,v1=0123abcd", "0123abcd"),
        ("https://x/?token=s3cr3t&a=1", "s3cr3t"),
        ("GET /Messages.json?To=%2B15558675309&PageSize=50", "15558675309"),
        ('"GET /status/01M81F4Y.qiSYkS-frvWO HTTP/1.1"', "qiSYkS-frvWO"),
        ("Error connecting to redis://intake:wr0ng-Pass@10.0.0.5:6379/0", "wr0ng-Pass"),
        ("rediss://:p@ss-in-url@10.0.0.7:6380/0 refused", "ss-in-url"),
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


async def test_the_meta_and_x_channels_log_no_bodies_ids_names_tokens_or_signatures(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO
) -> None:
    import time

    from tests.channels.meta_support import (
        APP_SECRET,
        PAGE_TOKEN,
        PSID,
        VERIFY_TOKEN,
        WA_TOKEN,
        fb_text,
        messenger,
        meta_config,
        meta_gateway,
        sign,
        wa_text,
        whatsapp,
    )
    from tests.channels.x_support import (
        ACCESS_SECRET,
        ACCESS_TOKEN,
        CONSUMER_KEY,
        CONSUMER_SECRET,
        USER_TOKEN,
        dm,
        x_gateway,
        x_settings,
        x_sign,
    )
    from tests.support.meta_api import Failure, MetaStandIn
    from tests.support.x_api import XStandIn

    log = tmp_path / "processes.log"
    wa_id, x_user, name = "15558675309", "2244999001", "Rosa Quintanilla"
    meta_api = MetaStandIn(tmp_path).start()
    x_api = XStandIn(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, USER_TOKEN).start()
    try:
        meta_api.media["1480000000000001"] = (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "image/jpeg")
        meta_api.expire_next_urls = 1
        meta_api.profiles[PSID] = {"first_name": "Rosa", "last_name": "Quintanilla"}
        meta_api.failures = [Failure(503, 2)]  # failures log too: they must not leak
        x_api.closed_to.add(x_user)
        config = meta_config(tmp_path, redis_server, meta_api, channels={"x": x_settings(x_api)})
        photo = {"from": wa_id, "id": "wamid.privacy-photo", "timestamp": str(int(time.time())), "type": "image",
                 "image": {"id": "1480000000000001", "mime_type": "image/jpeg", "caption": "locker 4471"}}  # fmt: skip
        old = time.time() - 30 * 3600
        async with meta_gateway(config) as gw:
            body = json.dumps(whatsapp(wa_text(BODY, sender=wa_id), photo, name=name, sender=wa_id)).encode()
            assert (await gw.post_raw(body))[0] == 200
            assert (await gw.post_raw(body, signature=sign(body, "wrong")))[0] == 403
            assert (await gw.post(messenger(fb_text(BODY + " (messenger)", at=old))))[0] == 200
            handshake = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "77"}
            async with gw.http.get(gw.base + "/hooks/meta", params=handshake) as resp:
                assert resp.status == 200
            intake(config, "worker", "--burst", log=log)
            intake(config, "tickets", "update", "2", "--status", "in_progress", "--comment", COMMENT, log=log)
            intake(config, "worker", "--burst", log=log)
            wamid = meta_api.sends("whatsapp")[-1].message_id
            failed = {"id": wamid, "status": "failed", "timestamp": "1", "recipient_id": wa_id,
                      "errors": [{"code": 131026, "title": "Message undeliverable"}]}  # fmt: skip
            assert (await gw.post(whatsapp(statuses=[failed])))[0] == 200
        async with x_gateway(config) as xgw:
            x_body = json.dumps(dm(BODY, sender=x_user)).encode()
            assert (await xgw.post_raw(x_body))[0] == 200
            assert (await xgw.post_raw(x_body, signature=x_sign(x_body, "wrong")))[0] == 403
        intake(config, "worker", "--burst", log=log)
        meta_signature, x_signature = sign(body), x_sign(x_body)
    finally:
        meta_api.stop()
        x_api.stop()
    logs = captured.getvalue() + log.read_text()
    for expected in ("meta reply sent", "media URL expired", "meta send refused", "whatsapp receipt",
                     "x reply refused", "request refused"):  # fmt: skip
        assert expected in logs, f"{expected!r} was not logged: the test would prove nothing"
    for secret in (BODY, "locker 4471", COMMENT, name, "Quintanilla", wa_id, f"+{wa_id}", PSID, x_user,
                   "rosa_alvarez_atx", APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN, WA_TOKEN, CONSUMER_SECRET, ACCESS_TOKEN,
                   ACCESS_SECRET, meta_signature, x_signature, wamid):  # fmt: skip
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."


async def test_the_redmine_backend_logs_no_requester_text_answers_or_keys(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, captured: io.StringIO
) -> None:
    from tests.conftest import start_gateway
    from tests.support.gateway import settings_from
    from tests.workers.backends.redmine_support import poll_and_publish, redmine_config, request_ids

    log = tmp_path / "processes.log"
    config = redmine_config(tmp_path, redis_server, redmine)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        payload = form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY)
        assert (await Gateway(server, http, settings).post_form(payload)).status == 202
    finally:
        await http.close()
        await server.close()
    intake(config, "worker", "--burst", log=log)
    [rid] = request_ids(redis_server)
    ref = str(staff.issues_for(rid)[0].id)
    _, checkpoint = poll_and_publish(settings, "", ref)
    staff.answer(ref, COMMENT)
    events, _ = poll_and_publish(settings, checkpoint, ref)
    intake(config, "worker", "--burst", log=log)
    logs = captured.getvalue() + log.read_text()
    assert len(events) == 1 and "ticket created" in logs and '"backend": "redmine"' in logs, "proves nothing"
    for secret in (NAME, EMAIL, PHONE, PHONE_RAW, "867-5309", BODY, "locker 4471", COMMENT,
                   redmine.facts["api_key"], redmine.facts["staff_key"]):  # fmt: skip
        assert secret not in logs, f"a log line carries {secret[:12]}..."


async def test_the_ticket_systems_log_no_personal_values_secrets_or_signatures(
    tmp_path: Path, redis_server: RedisServer, smtp_sink: SmtpSink, captured: io.StringIO
) -> None:
    """The webhook and email backends through success, outage, refusal and refused credentials; events signed
    and forged; doctor, replay and check-config: nothing personal, no secret, no signature, no hook URL key."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, sms, sms_gateway
    from tests.support.twilio_api import TwilioStandIn
    from tests.support.webhook_receiver import Scripted, WebhookReceiver, signed_event
    from tests.workers.backends.webhook_support import SECRET, post_event, wait_until, webhook_config

    log = tmp_path / "processes.log"
    hook_key = "hookkey-5b2c9e1d"
    receiver = WebhookReceiver(SECRET, tmp_path).start()
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    try:
        config = webhook_config(tmp_path, redis_server, receiver, api, url=f"{receiver.url}?key={hook_key}")
        async with sms_gateway(config) as gw:
            assert (await gw.post("/hooks/twilio/sms", sms(BODY, From=PHONE)))[0] == 200
            receiver.script = [Scripted(503, "ticket.create", {"error": f"down, {NAME} will fix"})]
            intake(config, "worker", "--burst", log=log)
            intake(config, "doctor", log=log)
            held = ScheduledJobRegistry(queue=Queue("deliver-webhook", connection=redis_server.client()))
            wait_until("the held request is due", lambda: bool(held.get_jobs_to_schedule(int(time.time()))))
            receiver.script = [Scripted(422, "ticket.create", {"error": f"no requester {EMAIL}"})]
            intake(config, "worker", "--burst", log=log)
            intake(config, "replay", log=log)
            intake(config, "worker", "--burst", log=log)
            statuses = [await post_event(gw.http, gw.base, delivery_id="p-1", ticket_ref="WH-1", status="open",
                                         comment=COMMENT, public=True),
                        await post_event(gw.http, gw.base, secret="forged", delivery_id="p-2", ticket_ref="WH-1",
                                         status="resolved")]  # fmt: skip
            body, headers = signed_event(SECRET, delivery_id="p-3", ticket_ref="WH-1", status="nope")
            async with gw.http.post(gw.base + "/backends/webhook/events", data=body, headers=headers) as resp:
                statuses.append(resp.status)
            intake(config, "worker", "--burst", log=log)
            receiver.credentials_refused = True
            intake(config, "check-config", log=log)
        (tmp_path / "email").mkdir()
        forward = write_config(tmp_path / "email", redis_server.url, backends={"default": "email", "email": {
            "forward_to": "desk@desk.example.com", "from_address": "help@district.example.org",
            "smtp": {"host": smtp_sink.host, "port": smtp_sink.port, "security": "none"}}})  # fmt: skip
        server, http = await start_gateway(settings_from(forward))
        try:
            await Gateway(server, http, settings_from(forward)).post_form(form(name=NAME, email=EMAIL, message=BODY))
        finally:
            await http.close()
            await server.close()
        intake(forward, "worker", "--burst", log=log)
    finally:
        receiver.stop()
        api.stop()
    logs = captured.getvalue() + log.read_text()
    assert statuses == [200, 401, 400]
    assert len(receiver.tickets) == 1 and len(smtp_sink.wait_for(1)) >= 1
    assert "ticket system out of order" in logs and "dead-lettered" in logs, "the failures did not run: proves nothing"
    for secret in (NAME, EMAIL, PHONE, PHONE[2:], BODY, "locker 4471", COMMENT, SECRET, hook_key, AUTH_TOKEN,
                   headers["X-Intake-Signature"].split("v1=")[1]):  # fmt: skip
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."


@pytest.mark.parametrize("system", ["zammad", "freshdesk", "zendesk"])
async def test_the_hosted_help_desks_log_no_personal_values_keys_or_signatures(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO, system: str
) -> None:
    """Zammad, Freshdesk and Zendesk through a text, a follow-up, a form, a rate limit, a refusal quoting the family's
    address, an agent's answer by webhook, a forged webhook, doctor and check-config with a refused key."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, sms, sms_gateway
    from tests.support.helpdesk import Scripted
    from tests.support.twilio_api import TwilioStandIn
    from tests.workers.backends.helpdesk_support import (
        FRESHDESK_KEY,
        HOOK_SECRET,
        ZAMMAD_TOKEN,
        ZENDESK_TOKEN,
        helpdesk_config,
        point_at,
    )
    from tests.workers.backends.webhook_support import wait_until

    log = tmp_path / "processes.log"
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    desk = _stand_in(system, tmp_path).start()
    try:
        config = helpdesk_config(tmp_path, redis_server, desk, api)
        async with sms_gateway(config) as gw:
            point_at(desk, gw)
            assert (await gw.post("/hooks/twilio/sms", sms(BODY, From=PHONE)))[0] == 200
            desk.script = [Scripted(429, "POST", "", {"error": "slow down"}, {"Retry-After": "1"})]
            intake(config, "worker", "--burst", log=log)
            held = ScheduledJobRegistry(queue=Queue(f"deliver-{system}", connection=redis_server.client()))
            wait_until("the held request is due", lambda: bool(held.get_jobs_to_schedule(int(time.time()))))
            intake(config, "worker", "--burst", log=log)
            assert (await gw.post("/hooks/twilio/sms", sms(BODY + " (again)", From=PHONE)))[0] == 200
            intake(config, "worker", "--burst", log=log)
            desk.script = [Scripted(422, "POST", "", {"error": f"no requester {EMAIL}", "description": EMAIL,
                                                      "message": EMAIL})]  # fmt: skip
            payload = form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY + " (form)")
            assert (await Gateway(gw.server, gw.http, gw.settings).post_form(payload)).status == 202
            intake(config, "worker", "--burst", log=log)
            [ticket, *_] = desk.all_tickets()
            sent = await _answer(desk, ticket.id)
            assert sent.answers == [200]
            async with gw.http.post(desk.events_url, data=sent.body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 401
            intake(config, "worker", "--burst", log=log)
            intake(config, "doctor", log=log)
        (tmp_path / "refused").mkdir()
        wrong = {"zammad": {"token": "wrong-" + ZAMMAD_TOKEN}, "freshdesk": {"api_key": "wrong-" + FRESHDESK_KEY},
                 "zendesk": {"token": "wrong-" + ZENDESK_TOKEN}}[system]  # fmt: skip
        intake(helpdesk_config(tmp_path / "refused", redis_server, desk, **wrong), "check-config", log=log)
    finally:
        desk.stop()
        api.stop()
    logs = captured.getvalue() + log.read_text()
    assert "ticket created" in logs and f'"backend": "{system}"' in logs and "dead-lettered" in logs, "proves nothing"
    assert "ticket system out of order" in logs, "the rate limit did not run: the test would prove nothing"
    signature = next((v for k, v in sent.headers.items() if "signature" in k.lower()), HOOK_SECRET)
    for secret in (NAME, EMAIL, PHONE, PHONE[2:], PHONE_RAW, BODY, "locker 4471", COMMENT, ZAMMAD_TOKEN, FRESHDESK_KEY,
                   ZENDESK_TOKEN, HOOK_SECRET, signature):  # fmt: skip
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."


def _stand_in(system: str, tmp_path: Path) -> Any:
    from tests.support.freshdesk_api import FreshdeskStandIn
    from tests.support.zammad_api import ZammadStandIn
    from tests.support.zendesk_api import ZendeskStandIn
    from tests.workers.backends.helpdesk_support import (
        FRESHDESK_KEY,
        HOOK_SECRET,
        ZAMMAD_TOKEN,
        ZENDESK_EMAIL,
        ZENDESK_TOKEN,
    )

    if system == "zammad":
        return ZammadStandIn(ZAMMAD_TOKEN, HOOK_SECRET, tmp_path)
    if system == "freshdesk":
        return FreshdeskStandIn(FRESHDESK_KEY, HOOK_SECRET, tmp_path)
    return ZendeskStandIn(ZENDESK_EMAIL, ZENDESK_TOKEN, HOOK_SECRET, tmp_path)


async def _answer(desk: Any, ticket: int) -> Any:
    if desk.name == "zammad":
        return await desk.agent_reply(ticket, f"<p>{COMMENT}</p>")
    if desk.name == "freshdesk":
        return await desk.agent_reply(ticket, COMMENT)
    return (await desk.agent_comment(ticket, COMMENT))[0]


async def test_the_rt_backend_logs_no_phone_numbers_bodies_answers_or_tokens(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO, rt_server: RequestTracker
) -> None:
    from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, SPANISH, sms_gateway, text_in
    from tests.support.gateway import settings_from
    from tests.support.twilio_api import TwilioStandIn
    from tests.workers.backends.rt_support import poll_and_publish, request_ids, rt_config, ticket_ref
    from workers.backends.rt import RtBackend

    log = tmp_path / "processes.log"
    phone = "+1555" + PHONE[-7:]
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    try:
        config = rt_config(tmp_path, redis_server, rt_server, api)
        settings = settings_from(config)
        backend = RtBackend.from_settings(settings)
        _, checkpoint = backend.poll_changes("")
        async with sms_gateway(config) as gw:
            await text_in(gw, BODY, To=SPANISH, From=phone)
            intake(config, "worker", "--burst", log=log)
            await text_in(gw, BODY + " (again)", To=SPANISH, From=phone)
            intake(config, "worker", "--burst", log=log)
        ticket = ticket_ref(redis_server, request_ids(redis_server)[0])
        rt_server.answer(ticket, COMMENT)
        poll_and_publish(settings, backend, checkpoint)
        intake(config, "worker", "--burst", log=log)
        intake(config, "doctor", log=log)
        (tmp_path / "refused").mkdir()
        refused = rt_config(tmp_path / "refused", redis_server, rt_server, map={"queue": {"general": "No Such"}})
        intake(refused, "check-config", log=log)
    finally:
        api.stop()
    logs = captured.getvalue() + log.read_text()
    assert "ticket created" in logs and "comment added" in logs, "nothing logged: the test would prove nothing"
    assert "RT has no queue 'No Such'" in logs, "the failure path did not run"
    for secret in (phone, phone[2:], BODY, "locker 4471", COMMENT, rt_server.token, rt_server.token.rsplit("-", 1)[1]):
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."


async def test_the_ticket_stores_password_and_a_familys_words_stay_out_of_logs_when_its_database_is_down(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.support.gateway import write_config
    from tests.support.redis_server import free_port
    from tests.workers.test_deliver_postgres import commit

    password = "pg-pass-6d5e4c1b"
    url = f"postgresql://intake:{password}@127.0.0.1:{free_port()}/intake"
    config = write_config(tmp_path, redis_server.url, backends={"builtin": {"database_url": url}})
    await commit(config, (BODY, ""))
    log = tmp_path / "processes.log"
    intake(config, "worker", "--burst", log=log)
    listed = intake(config, "tickets", "list", log=log)
    assert listed.returncode == 1 and "cannot be reached" in listed.stderr
    (tmp_path / "bad").mkdir()
    bad = write_config(
        tmp_path / "bad", redis_server.url, backends={"builtin": {"database_url": f"mysql://u:{password}@db/x"}}
    )
    checked = intake(bad, "check-config", log=log)
    assert checked.returncode != 0 and "backends.builtin.database_url" in checked.stderr
    logs = log.read_text()
    assert "OperationalError" in logs, "the worker did not log its failure: the test would prove nothing"
    assert password not in logs and BODY not in logs and "locker 4471" not in logs


async def test_the_dashboard_and_reports_log_no_family_words_addresses_or_staff_credentials(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO
) -> None:
    import aiohttp

    from tests.gateway.web.sse import Stream, number
    from tests.support.gateway import OPERATOR_TOKEN
    from tests.support.staff import add_staff, signed_in_cookie

    config = write_config(tmp_path, redis_server.url, server={"operator_token": OPERATOR_TOKEN, "port": 0})
    settings = settings_from(config)
    add_staff(settings, "maria.chen", "supervisor", name=NAME)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    try:
        cookie_name, cookie = await signed_in_cookie(gw.base, "maria.chen")
        headers = {"Cookie": f"{cookie_name}={cookie}"}
        async with http.get(gw.base + "/dashboard/events", headers=headers, timeout=aiohttp.ClientTimeout()) as resp:
            stream = Stream(resp)
            assert (await gw.post_form(form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=BODY))).status == 202
            await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 1)
            intake(config, "worker", "--burst")
            await stream.until(lambda s: number(s.get("tickets", ""), "open-total") == 1)
            redis_server.stop(kill=True)  # the dashboard's reads and its subscription fail, and say so
            await gw.post_form(form(email=EMAIL, message=BODY + " (spooled)"))
            redis_server.start()
            await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 2, timeout=60)
        csv = await http.get(gw.base + "/reports/equity.csv?range=week", headers=headers)
        assert csv.status == 200
    finally:
        await http.close()
        await server.close()
    logs = captured.getvalue()
    assert "dashboard" in logs, "the dashboard logged nothing when Redis went away: the test would prove nothing"
    for secret in (NAME, EMAIL, PHONE, PHONE_RAW, "867-5309", BODY, "locker 4471", cookie, OPERATOR_TOKEN):
        assert secret not in logs, f"a log line carries {secret[:12]}..."


async def test_staff_sign_in_logs_no_passwords_session_cookies_tokens_or_usernames(
    tmp_path: Path, redis_server: RedisServer, captured: io.StringIO
) -> None:
    import subprocess
    import sys

    from tests.support.gateway import REPO
    from tests.support.staff import add_staff, browser_session, form_token, session_token, sign_in

    log = tmp_path / "processes.log"
    username, password, wrong = "marisol.okafor", "Mateo's-inhaler-4471-pw", "guessed-pw-8a8a8a"
    config = write_config(tmp_path, redis_server.url, signin={"lockout": {"account_attempts": 2}})
    settings = settings_from(config)
    add_staff(settings, username, "admin", password=password)
    server, _ = await start_gateway(settings)
    await _.close()
    base = str(server.make_url("/")).rstrip("/")
    http = browser_session()
    try:
        refused = [(await sign_in(http, base, username, wrong)).status for _ in range(3)]
        refused.append((await sign_in(http, base, username, password)).status)  # locked
        assert refused == [401, 429, 429, 429]
        done = intake(config, "users", "unlock", username)
        assert done.returncode == 0, done.stderr
        log.write_text(done.stderr)  # its logs; what it prints for the operator (stdout) names the account
        assert (await sign_in(http, base, username, password)).status == 303
        cookie = http.cookie_jar.filter_cookies(server.make_url("/"))["intake_staff"].value
        token = await session_token(http, base)
        async with browser_session() as other:
            signin_token = form_token(await (await other.get(f"{base}/signin")).text())
        await http.post(f"{base}/signout", data={"csrf": token})
    finally:
        await http.close()
        await server.close()
    added = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), "users", "add", "second.person", "--name",
         NAME, "--password-stdin"], input=password + "\n", capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    log.write_text(log.read_text() + added.stderr)
    assert added.returncode == 0, added.stderr

    logs = captured.getvalue() + log.read_text()
    assert "staff signed in" in logs and "sign-in refused" in logs, "nothing logged: the test would prove nothing"
    for secret in (username, password, wrong, cookie, token, signin_token, NAME, "4471"):
        assert secret not in logs, f"a log line carries {secret[:12]}..."


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


async def test_the_email_backends_relay_logs_no_answers_relay_addresses_names_or_phone_numbers(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink, captured: io.StringIO
) -> None:
    """A texter's request forwarded with a relay Reply-To, the help desk's answer and its closing notice read back
    from the relay by the poller, and told by text: no phone number, answer, body, name or relay address logged."""
    from tests.channels.email_support import running_poller
    from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, SPANISH, sms, sms_gateway, texts
    from tests.mail_fixtures import IMAP_USER
    from tests.support.twilio_api import TwilioStandIn
    from tests.workers.backends.test_email_forward import DESK, desk_mail, desk_mails, relay_config

    log = tmp_path / "processes.log"
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    try:
        config = relay_config(tmp_path, redis_server, dovecot, smtp_sink, api)
        async with sms_gateway(config) as gw, running_poller(config) as poller:
            assert (await gw.post("/hooks/twilio/sms", sms(BODY, From=PHONE, To=SPANISH)))[0] == 200
            intake(config, "worker", "--burst", log=log)
            [first] = desk_mails(smtp_sink)
            relay = first["Reply-To"].addresses[0].addr_spec
            token = relay.partition("+")[2].partition("@")[0]
            for raw in (desk_mail(relay, f"Re: {first['Subject']}", COMMENT + "\n", sender=f"{NAME} <{DESK}>"),
                        desk_mail(relay, "Ticket Resolved - inhaler", "Your ticket has been resolved.\n",
                                  **{"Auto-Submitted": "auto-generated"})):  # fmt: skip
                dovecot.deliver(IMAP_USER, raw, sender=DESK)
                assert await poller.pass_once() == 1
            intake(config, "worker", "--burst", log=log)
        sent = [t["Body"] for t in texts(api)]
    finally:
        api.stop()
    logs = captured.getvalue() + log.read_text()
    assert len(sent) == 3 and COMMENT in sent[1], "the answer was not relayed: the test would prove nothing"
    assert "help desk answer relayed" in logs
    # The token alone is part of the request id, which logs keep: the relay trusts the sender, not the token.
    for secret in (PHONE, PHONE[2:], BODY, "locker 4471", COMMENT, NAME, relay, f"+{token}@"):
        leaks = [line[:300] for line in logs.splitlines() if secret in line]
        assert leaks == [], f"a log line carries {secret[:12]}..."
