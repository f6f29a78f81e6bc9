"""`intake import-mbox` parses in the mail parsing processes, not on its event loop.

A district imports years of a shared mailbox at once: on the loop, each batch's parsing (MIME, HTML to
text) would stall the commits, the spool's drain and every timer of the process for seconds. The test
imports an archive of heavy HTML mail while a heartbeat coroutine measures the loop's longest stall.
"""

from __future__ import annotations

import asyncio
import mailbox
import time
from email.message import EmailMessage
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from gateway.mail.commands import IMPORT_BATCH, import_archive
from gateway.models import Commitment
from tests.channels.email_support import mail_config
from tests.support.dovecot import Dovecot
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer

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
