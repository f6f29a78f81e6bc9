"""`intake import-mbox` parses in the mail parsing processes, not on its event loop.

A district imports years of a shared mailbox at once: on the loop, each batch's parsing (MIME, HTML to
text) would stall the commits, the spool's drain and every timer of the process for seconds. The test
imports an archive of heavy HTML mail while a heartbeat coroutine measures the loop's longest stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import signal
import time
from email.message import EmailMessage
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from gateway.mail.commands import IMPORT_BATCH, import_archive
from gateway.models import Commitment
from tests.channels.email_support import mail_config
from tests.support.dovecot import Dovecot
from tests.support.gateway import settings_from, start_process
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

MESSAGES = 2 * IMPORT_BATCH
# About 13 KB of table markup: tens of milliseconds of HTML-to-text each, seconds a batch.
CELLS = 300


def newsletter_reply(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Parent {i} <parent{i}@example.org>"
    msg["To"] = "help@district.example.org"
    msg["Subject"] = f"Lunch menu question {i}"
    msg["Message-ID"] = f"<menu-{i}@home.example>"
    rows = "".join(f"<tr><td><span><b>{j}</b></span></td></tr>" for j in range(CELLS))
    msg.set_content(f"<html><body><p>Is lunch {i} nut free?</p><table>{rows}</table></body></html>", subtype="html")
    return bytes(msg)


class Heartbeat:
    """Wakes every few milliseconds and keeps the longest time the loop made it wait past its wake-up."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.beats = 0

    async def run(self) -> None:
        while True:
            due = time.monotonic() + 0.005
            await asyncio.sleep(0.005)
            self.longest = max(self.longest, time.monotonic() - due)
            self.beats += 1


def imported(redis_server: RedisServer) -> dict[str, str]:
    """Each imported message's Message-ID and the conversation it was committed to."""
    q = Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
    found = [Commitment.model_validate(j.args[0]) for j in q.jobs]
    return {c.message.provider_id or "": c.conversation for c in found}


async def test_an_import_keeps_the_event_loop_responsive_and_imports_the_same_tickets_again_as_duplicates(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    settings = settings_from(mail_config(tmp_path, redis_server, dovecot, None))
    archive = tmp_path / "years.mbox"
    box = mailbox.mbox(archive)
    for i in range(MESSAGES):
        box.add(newsletter_reply(i))
    box.close()
    heartbeat = Heartbeat()
    beating = asyncio.create_task(heartbeat.run())
    started = time.monotonic()
    try:
        first = await import_archive(settings, archive, "help", lambda n: None)
    finally:
        beating.cancel()
    took = time.monotonic() - started
    assert first == {"new": MESSAGES, "duplicate": 0, "ignored": 0, "quarantined": 0}
    print(f"import of {MESSAGES} messages: {took:.2f} s, loop's longest stall {heartbeat.longest * 1000:.0f} ms")
    # Parsing a batch on the loop stalls it for a second or more; off it, what is left is committing.
    assert heartbeat.longest < 1.0, f"the event loop stalled {heartbeat.longest:.2f} s"
    tickets = imported(redis_server)
    assert len(tickets) == MESSAGES and len(set(tickets.values())) == MESSAGES

    again = await import_archive(settings, archive, "help", lambda n: None)
    assert again == {"new": 0, "duplicate": MESSAGES, "ignored": 0, "quarantined": 0}
    assert imported(redis_server) == tickets


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that no longer reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_an_import_killed_outright_leaves_no_parsing_process_behind(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    """SIGKILL reaches only the importing process: its parsing processes must notice and go (they held ~100 MB
    each, for good, after every `intake mail` or import killed this way)."""
    config = mail_config(tmp_path, redis_server, dovecot, None)
    archive = tmp_path / "years.mbox"
    box = mailbox.mbox(archive)
    for i in range(4 * MESSAGES):
        box.add(newsletter_reply(i))
    box.close()
    proc = start_process(config, tmp_path / "import.log", "import-mbox", str(archive))
    try:
        await eventually(lambda: len(children(proc.pid)) >= 3, "the parsing processes started")  # and the tracker
        pool = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL  # killed in the middle of the import
        await eventually(lambda: not any(running(p) for p in pool), "the orphaned parsing processes exited", 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
