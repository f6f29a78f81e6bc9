"""Our own mail is known by what only we make (our X-Loop stamp, a Message-ID marked with our key), never by
its domain: a teacher at the district writes from the same domain as the help desk's mailbox."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from tests.channels.email.test_email_channel import tickets, work
from tests.channels.email_support import mail, mail_config, running_poller
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

APPLE_MAIL_ID = "<6F1A2B3C-4D5E-4F60-8A9B-0C1D2E3F4A5B@district.example.org>"
THUNDERBIRD_ID = "<4b1e6f2a-93c7-8d05-2e4f-a1b2c3d4e5f6@district.example.org>"


def relayed(raw: bytes, header: str, value: str | None = None) -> bytes:
    """`raw` as a relay passes it on: `header` dropped, or replaced by `value`."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    del msg[header]
    if value is not None:
        msg[header] = value
    return bytes(msg)


async def test_teachers_at_the_districts_domain_get_tickets_and_our_own_mail_still_comes_back_as_ours(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    apple = mail(sender="Mr. Nguyen <tnguyen@district.example.org>", message_id=APPLE_MAIL_ID,
                 subject="Projector in room 12", body="The projector will not turn on.\n")  # fmt: skip
    thunderbird = mail(sender="Ms. Ortiz <mortiz@district.example.org>", message_id=THUNDERBIRD_ID,
                       subject="Locked out of Canvas", body="My account is locked.\n")  # fmt: skip
    dovecot.deliver(IMAP_USER, apple)
    dovecot.deliver(IMAP_USER, thunderbird)
    # Someone who guessed our format but not our key: a mark of the right length that is not ours.
    forged = "<" + "a" * 32 + ".0123456789abcdef@district.example.org>"
    dovecot.deliver(IMAP_USER, mail(sender="kim@district.example.org", message_id=forged, subject="Printer jam",
                                    body="The printer jams.\n"))  # fmt: skip
    async with running_poller(config) as p:
        assert await p.pass_once() == 3
        work(config)
        acks = smtp_sink.wait_for(3)
        store = tickets(config)
        assert store.count() == 3
        assert sorted(store.get(str(n)).requester_email for n in (1, 2, 3)) == [
            "kim@district.example.org", "mortiz@district.example.org", "tnguyen@district.example.org",
        ]  # fmt: skip
        # Our acknowledgements come back (a forwarding rule, a bad alias): one with a relay's X-Loop stripped,
        # known by its marked Message-ID; one with a rewritten Message-ID, known by its X-Loop stamp.
        assert all(a.message["Message-ID"].endswith("@district.example.org>") for a in acks)
        dovecot.deliver(IMAP_USER, relayed(acks[0].raw, "X-Loop"))
        dovecot.deliver(IMAP_USER, relayed(acks[1].raw, "Message-ID", "<relay-77@lists.example.org>"))
        assert await p.pass_once() == 2
    work(config)
    assert tickets(config).count() == 3
    assert len(smtp_sink.messages) == 3
    assert dovecot.message_count(IMAP_USER, "Processed") == 5
