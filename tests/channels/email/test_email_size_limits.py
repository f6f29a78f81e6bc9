"""What one message may cost `intake mail`: sizes are asked first, a message over max_message_bytes is quarantined
without being downloaded, fetches hold at most max_message_bytes together, and text is capped with a marker."""

from __future__ import annotations

import base64
import json
import os
import re
import tracemalloc
from email.message import EmailMessage
from pathlib import Path

from gateway import keys
from gateway.store.blob_stores import open_blobs
from tests.channels.email.test_email_channel import tickets, work
from tests.channels.email_support import mail, mail_config, running_poller
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink


def with_file(size: int, subject: str) -> bytes:
    """A mail carrying `size` random bytes as an attachment (base64 on the wire: a third larger)."""
    msg = EmailMessage()
    msg["From"] = "Ana Pérez <ana.perez@example.org>"
    msg["To"] = "help@district.example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{base64.b32encode(os.urandom(10)).decode().lower()}@example.org>"
    msg.set_content("The video of the problem is attached.\n")
    msg.add_attachment(os.urandom(size), maintype="video", subtype="mp4", filename="problem.mp4")
    return bytes(msg)


def fetches_of_bodies(dovecot: Dovecot) -> list[str]:
    return [c for c in dovecot.imap_commands(IMAP_USER) if "BODY.PEEK[]" in c.upper()]


def uid_set(command: str) -> list[str]:
    """The UIDs a `UID FETCH <set> (...)` names."""
    return command.split()[2].split(",")


def sent_by_server(dovecot: Dovecot, user: str) -> int:
    """Bytes Dovecot sent to the user's IMAP sessions (its raw log of each session's output)."""
    return sum(p.stat().st_size for p in (dovecot.root / "rawlog" / user).glob("*.out"))


async def test_a_50_mb_message_is_quarantined_unread_with_a_note_and_memory_stays_bounded(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)  # max_message_bytes: the shipped 25 MiB
    huge = with_file(38 * 1024 * 1024, "the whole school play")
    assert len(huge) > 50_000_000
    dovecot.deliver_many(IMAP_USER, [huge, mail()])
    async with running_poller(config) as p:
        tracemalloc.start()
        try:
            assert await p.pass_once() == 2
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        notes = [json.loads(n) for n in await p.runtime.redis.lrange(keys.MAIL_QUARANTINE, 0, -1)]
    assert peak < 8_000_000, f"the poller held {peak:,} bytes at its peak"
    assert sent_by_server(dovecot, IMAP_USER) < 1_000_000  # never downloaded: Dovecot never sent it
    assert not any("1" in uid_set(c) for c in fetches_of_bodies(dovecot))
    assert dovecot.message_count(IMAP_USER, "Quarantine") == 1
    assert dovecot.message_count(IMAP_USER, "Processed") == 1
    [note] = notes
    assert note["uid"] == 1
    assert "max_message_bytes" in note["reason"] and "not downloaded" in note["reason"]
    said = re.search(r"([\d,]+) bytes", note["reason"])
    assert said is not None and int(said.group(1).replace(",", "")) >= len(huge)  # the server's size (CRLF lines)


async def test_fetches_stay_within_the_size_limit_and_a_long_text_is_capped_with_a_marker(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink, max_message_bytes=40_000, max_text_chars=1000)
    long = mail(sender="luis@example.org", subject="Everything that happened", body="Paragraph. " * 3000)
    dovecot.deliver_many(IMAP_USER, [
        with_file(12_000, "photo one"), with_file(12_000, "photo two"), long, with_file(60_000, "too big"), mail(),
    ])  # fmt: skip
    async with running_poller(config) as p:
        assert await p.pass_once() == 5
    assert dovecot.message_count(IMAP_USER, "Quarantine") == 1
    # The sizes first, then the four that fit in fetches of at most 40,000 bytes together; never the 60 KB one.
    fetches = fetches_of_bodies(dovecot)
    first = next(c for c in dovecot.imap_commands(IMAP_USER) if c.upper().startswith("UID FETCH"))
    assert "RFC822.SIZE" in first.upper()
    assert [uid_set(c) for c in fetches] == [["1", "2"], ["3", "5"]]
    work(config)
    store = tickets(config)
    assert store.count() == 4
    [capped] = [store.get(str(n)) for n in range(1, 5) if store.get(str(n)).requester_email == "luis@example.org"]
    assert capped.body.startswith("Paragraph. Paragraph.")
    cut = re.fullmatch(r"(?s)(.{1000})\n\n\[\.\.\. message truncated: ([\d,]+) more characters not shown; "
                       r"the original message is attached whole as original-message\.eml\]", capped.body)  # fmt: skip
    assert cut is not None, capped.body[-200:]
    assert int(cut.group(2).replace(",", "")) > 30_000
    # The marker's promise: the whole message is on the ticket, a file staff open there.
    [original] = [a for a in store.details(capped.id).attachments if a.filename == "original-message.eml"]
    assert original.kept and original.storage_key is not None
    kept = open_blobs(settings_from(config)).get(original.storage_key).replace(b"\r\n", b"\n")
    assert kept.count(b"Paragraph.") == 3000 and b"Everything that happened" in kept
    others = [store.details(str(n)) for n in range(1, 5) if str(n) != str(capped.id)]
    assert all(a.filename != "original-message.eml" for d in others for a in d.attachments)  # shown whole: no copy
