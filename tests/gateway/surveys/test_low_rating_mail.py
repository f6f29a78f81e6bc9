"""`low_rating: notify` reaches people: a 1-star answer mails the department's supervisors through the gateway's SMTP
(the real SMTP sink), once, and never the family's words or address."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from gateway.store.queues import MAIL_SUPERVISORS_FUNC, REPLIES_QUEUE
from gateway.surveys.escalation import recipients_for
from gateway.tickets import TicketStore
from gateway.tickets.records import User
from tests.channels.email_support import mailbox_conf
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.surveys.support import survey
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import ReceivedMail, SmtpSink
from tests.support.waiting import eventually

RULES = """
rules:
  - id: cafeteria
    when: {keywords: [cafeteria]}
    then: {queue: food, low_rating: notify}
"""
FAMILY = "ana.perez@example.org"
WORDS = "The cafeteria card does not work for my daughter Lucia."
LOPEZ, KIM, ORTIZ, AGENT, ADMIN = (f"{n}@district.example.org" for n in ("lopez", "kim", "ortiz", "agent", "admin"))


def body(m: ReceivedMail) -> str:
    part = m.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def to(sink: SmtpSink, address: str) -> list[ReceivedMail]:
    return [m for m in sink.messages if address in m.rcpt_tos]


def staff(config: Path) -> None:
    """The desk's accounts: one supervisor of food, one of transportation, a switched-off supervisor of food, an
    agent of food and an admin, each with an email."""
    store = TicketStore.from_settings(settings_from(config))
    try:
        store.users.add("lopez", "Rosa Lopez", "supervisor", email=LOPEZ, departments=["food"])
        store.users.add("kim", "Dan Kim", "supervisor", email=KIM, departments=["transportation"])
        store.users.add("ortiz", "Eva Ortiz", "supervisor", email=ORTIZ, departments=["food"])
        store.users.update("ortiz", disabled=True)
        store.users.add("agent", "Al Gent", "agent", email=AGENT, departments=["food"])
        store.users.add("admin", "Ada Min", "admin", email=ADMIN)
    finally:
        store.close()


def work(config: Path, log: Path) -> None:
    result = intake(config, "worker", "--burst", log=log)
    assert result.returncode == 0, result.stderr[-3000:]


async def rated_one_star(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, sink: SmtpSink
) -> tuple[Path, str]:
    """A family's web form request about the cafeteria, resolved, its survey mailed and answered with 1 star; the
    worker then runs once more, with the sink refusing the first mail it is given (the job is retried)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    config = write_config(tmp_path, redis_server.url, surveys={"enabled": True}, routing={"rules_file": str(rules)},
                          channels={"email": {"mailboxes": {"help": mailbox_conf(dovecot, sink)}}})  # fmt: skip
    staff(config)
    log = tmp_path / "worker.log"
    server, http = await start_gateway(settings_from(config))
    gw = Gateway(server, http, settings_from(config))
    try:
        resp = await gw.post_form(form(message=WORDS, language="en", email=FAMILY))
        conv = str((await resp.json())["request_id"])
        work(config, log)
        assert intake(config, "tickets", "update", "1", "--status", "resolved").returncode == 0
        work(config, log)
        await eventually(lambda: any("/survey/" in body(m) for m in to(sink, FAMILY)), "the survey mailed")
        [asked] = [m for m in to(sink, FAMILY) if "/survey/" in body(m)]
        [path] = re.findall(r"1 - [^:]+: http\S+?(/survey/\S+)", body(asked))
        async with gw.http.get(gw.base + path) as page:
            assert page.status == 200
    finally:
        await http.close()
        await server.close()
    sink.fail_next(1)  # 451 to the first supervisor's mail: the job fails and is retried
    work(config, log)
    return config, conv


async def test_a_one_star_rating_mails_the_departments_supervisor_once_even_when_the_job_is_retried(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config, conv = await rated_one_star(tmp_path, redis_server, dovecot, smtp_sink)
    before = smtp_sink.attempts
    [mail] = to(smtp_sink, LOPEZ)
    assert smtp_sink.attempts > len(smtp_sink.messages), "the sink refused nothing: the retry was not exercised"
    for other in (KIM, ORTIZ, AGENT, ADMIN):
        assert to(smtp_sink, other) == [], f"{other} was mailed"
    text = body(mail)
    assert "1 out of 5" in mail.message["Subject"]
    for fact in ("Department: food", "School:     lhs", "Rating:     1 out of 5", "Ticket:     1 in builtin",
                 "You get this mail as a supervisor of food."):  # fmt: skip
        assert fact in text
    reference = re.findall(r"Reference:  (\S+)", text)
    assert reference and reference[0] in mail.message["Subject"]
    assert FAMILY not in str(mail.message) and "Lucia" not in str(mail.message) and "Ana" not in str(mail.message)
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "supervisor_mailed:lopez" in survey(redis_server, conv)
    shown = intake(config, "tickets", "show", "1").stdout
    assert "a supervisor should follow up with them" in shown and "a mail goes to lopez (a supervisor of food)" in shown

    # The same job run again (a worker lost after the send, then rq ran it anew): nobody is mailed twice.
    r = redis_server.client()
    done = Job.fetch(f"mail-supervisors-{conv}", connection=r, serializer=JSONSerializer)
    assert done.func_name == MAIL_SUPERVISORS_FUNC
    Queue(REPLIES_QUEUE, connection=r, serializer=JSONSerializer).enqueue(
        MAIL_SUPERVISORS_FUNC, *done.args, job_id=f"again-{conv}"
    )
    work(config, tmp_path / "worker.log")
    again = Job.fetch(f"again-{conv}", connection=r, serializer=JSONSerializer)
    assert again.return_value() == "mailed 0"
    assert len(to(smtp_sink, LOPEZ)) == 1 and smtp_sink.attempts == before


async def test_the_supervisors_mail_leaves_no_address_in_the_log(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    await rated_one_star(tmp_path, redis_server, dovecot, smtp_sink)
    assert len(to(smtp_sink, LOPEZ)) == 1
    lines = (tmp_path / "worker.log").read_text().splitlines()
    mailed = [json.loads(line[line.index("{") :]) for line in lines if "supervisors mailed" in line]
    assert mailed and mailed[-1]["mailed"] == 1
    for secret in (LOPEZ, "lopez@", FAMILY, "Lucia"):
        assert [line[:200] for line in lines if secret in line] == [], f"a log line carries {secret}"


def user(username: str, role: str, departments: tuple[str, ...] = (), *, email: bool = True, off: bool = False) -> User:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    return User(id=hash(username) % 1000, username=username, name=username.title(),
                email=f"{username}@district.example.org" if email else None, role=role,  # type: ignore[arg-type]
                departments=departments, password_hash=None, source="local", disabled=off, failed_logins=0,
                last_failed_login_at=None, locked_until=None, last_login_at=None, created_at=at)  # fmt: skip


def test_with_no_supervisor_of_the_department_every_supervisor_hears_it_and_admins_only_when_there_is_none() -> None:
    desk = [user("kim", "supervisor", ("transportation",)), user("ng", "supervisor", ("it",)),
            user("ada", "admin", ("food",)), user("al", "agent", ("food",))]  # fmt: skip
    assert [(r.username, r.why) for r in recipients_for(desk, "food")] == [
        ("kim", "a supervisor (no supervisor works food)"), ("ng", "a supervisor (no supervisor works food)")
    ]  # fmt: skip
    nobody_reachable = [user("kim", "supervisor", ("food",), email=False), user("ng", "supervisor", off=True),
                        user("ada", "admin", ("food",)), user("root", "admin")]  # fmt: skip
    assert [(r.username, r.why) for r in recipients_for(nobody_reachable, "Food")] == [("ada", "an admin of food")]
    assert recipients_for([user("al", "agent", ("food",)), user("ada", "admin", email=False)], "food") == []
