"""`intake quarantine`: a long outage's backlog of mail the poller could not take is kept whole, paged,
exported and cleared by an operator; nothing is trimmed behind their back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from gateway import keys
from tests.channels.email_support import mail_config, running_poller
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

EARLIER = 1204  # notes left by earlier passes: more than any fixed cap we ever had (1,000)
SLOW_MACHINE_S = 180.0


def earlier_notes(redis_server: RedisServer) -> None:
    """What the poller wrote for messages it quarantined before (oldest first, as it pushes them)."""
    client = redis_server.client()
    for uid in range(1, EARLIER + 1):
        note = {"mailbox": "office" if uid % 2 else "help", "folder": "Quarantine", "uid": uid,
                "reason": "unparseable", "at": f"2026-09-01T08:{uid // 60 % 60:02d}:{uid % 60:02d}+00:00"}  # fmt: skip
        client.lpush(keys.MAIL_QUARANTINE, json.dumps(note))
    client.close()


async def test_every_quarantined_message_is_listed_paged_exported_and_cleared(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    earlier_notes(redis_server)
    garbage = (Path(__file__).parents[2] / "payloads" / "email" / "unparseable.bin").read_bytes()
    dovecot.deliver(IMAP_USER, garbage)
    async with running_poller(config) as p:
        assert await p.pass_once() == 1
    assert dovecot.message_count(IMAP_USER, "Quarantine") == 1
    total = EARLIER + 1

    def run(*args: str) -> str:
        done = intake(config, *args, timeout=SLOW_MACHINE_S)
        assert done.returncode == 0, done.stderr
        return done.stdout

    doctor = intake(config, "doctor", timeout=SLOW_MACHINE_S).stdout  # exits 1: a check fails, as it should
    assert f"{total} message(s) could not be parsed" in doctor
    assert "the newest 20 below; `intake quarantine list` shows every one" in doctor

    first = run("quarantine", "list", "--limit", "10").splitlines()
    assert "help/Quarantine uid 1: " in first[0]  # the real message, newest
    assert first[1].endswith("help/Quarantine uid 1204: unparseable")
    assert f"10 shown (1-10) of {total} quarantined" in first[-2]
    assert first[-1] == "next page: intake quarantine list --offset 10 --limit 10"
    last = run("quarantine", "list", "--offset", str(total - 3), "--limit", "10").splitlines()
    assert last[-1] == f"3 shown ({total - 2}-{total}) of {total} quarantined"
    assert last[-2].endswith("office/Quarantine uid 1: unparseable")  # the oldest note, on the last page

    rows = list(csv.DictReader(io.StringIO(run("quarantine", "list", "--csv"))))
    assert len(rows) == total
    assert len({(r["mailbox"], r["uid"]) for r in rows}) == total
    newest = rows[0]
    assert newest["mailbox"] == "help" and newest["folder"] == "Quarantine"
    office = list(csv.DictReader(io.StringIO(run("quarantine", "list", "--csv", "--mailbox", "office"))))
    assert len(office) == EARLIER // 2 and {r["mailbox"] for r in office} == {"office"}

    both = intake(config, "quarantine", "clear", "--uid", "1", timeout=SLOW_MACHINE_S)
    assert both.returncode == 1 and "uid 1 is quarantined in help, office: add --mailbox" in both.stderr
    assert run("quarantine", "clear", "--uid", "1", "--mailbox", "help").strip() == "cleared help uid 1"
    assert run("quarantine", "clear", "--uid", "3").strip() == "cleared office uid 3"
    unknown = intake(config, "quarantine", "clear", "--uid", "999999", timeout=SLOW_MACHINE_S)
    assert unknown.returncode == 1 and "no quarantined message has uid 999999" in unknown.stderr
    neither = intake(config, "quarantine", "clear", timeout=SLOW_MACHINE_S)
    assert neither.returncode == 2 and "--uid N" in neither.stderr
    assert f"of {total - 2} quarantined" in run("quarantine", "list")

    assert run("quarantine", "clear", "--all").strip() == f"cleared {total - 2} note(s)"
    assert "0 shown (0-0) of 0 quarantined" in run("quarantine", "list")
    assert dovecot.message_count(IMAP_USER, "Quarantine") == 1  # the message itself is never deleted
