"""Threading headers never carry one family's mail onto another family's ticket (Zammad #5064).

In-Reply-To and References say which message someone answered, not that they belong on its ticket:
everyone who got the same newsletter answers the same Message-ID. A header match threads the mail
only for someone on that conversation: its requester, anyone who already wrote on it, anyone a
request or reply was openly addressed to (To, Cc), and district staff the directory knows.
"""

from __future__ import annotations

from pathlib import Path

from tests.channels.email.test_email_channel import tickets, work
from tests.channels.email_support import HELP, mail, mail_config, running_poller
from tests.directory_fixtures import csv_settings
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

NEWSLETTER = "<december-news@news.district.example.org>"


def answering(message_id: str) -> dict[str, str]:
    return {"In-Reply-To": message_id, "References": message_id}


async def test_families_answering_one_newsletter_each_get_their_own_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    # The help desk's address is on the district's mailing list, so the newsletter itself arrives.
    dovecot.deliver(IMAP_USER, mail(sender="District News <news@news.district.example.org>",
                                    to="families@lists.district.example.org", subject="December newsletter",
                                    message_id=NEWSLETTER,
                                    headers={"List-Id": "<families.lists.district.example.org>"}))  # fmt: skip
    async with running_poller(config) as p:
        await p.pass_once()
        for sender, body, mid in (
            ("Ana Pérez <ana.perez@example.org>", "Who do I tell that my son's IEP meeting moved?\n", "<ana-1@ex.org>"),
            ("Bo Chen <bo.chen@example.org>", "Our address changed to 12 Elm St.\n", "<bo-1@example.org>"),
        ):
            dovecot.deliver(IMAP_USER, mail(sender=sender, to=f"news@news.district.example.org, {HELP}",
                                            subject="Re: December newsletter", body=body, message_id=mid,
                                            headers=answering(NEWSLETTER)))  # fmt: skip
        await p.pass_once()
        # Ana answers on her own thread: that still threads.
        dovecot.deliver(IMAP_USER, mail(subject="Re: December newsletter", body="It is on Friday now.\n",
                                        headers=answering("<ana-1@ex.org>")))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 3
    assert store.details("1").comments == []
    assert store.get("2").requester_email == "ana.perez@example.org"
    assert [c.body for c in store.details("2").comments] == ["It is on Friday now."]
    assert store.get("3").requester_email == "bo.chen@example.org"
    assert store.details("3").comments == []


async def test_someone_copied_on_a_request_answers_on_its_ticket_and_a_stranger_does_not(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    ask = "<ask-bus@example.org>"
    dovecot.deliver(IMAP_USER, mail(subject="Bus 12 never came", message_id=ask,
                                    headers={"Cc": "Luis Pérez <Luis.Perez@example.org>"}))  # fmt: skip
    async with running_poller(config) as p:
        await p.pass_once()
        dovecot.deliver(IMAP_USER, mail(sender="Luis Pérez <luis.perez@example.org>", subject="Re: Bus 12 never came",
                                        body="It did not come this morning either.\n",
                                        headers=answering(ask)))  # fmt: skip
        # Someone the thread reached another way (a forward) quotes the same Message-ID.
        dovecot.deliver(IMAP_USER, mail(sender="Eve <eve@elsewhere.example>", subject="Re: Bus 12 never came",
                                        body="Which stop is that?\n", headers=answering(ask)))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 2
    assert [c.body for c in store.details("1").comments] == ["It did not come this morning either."]
    assert store.get("2").requester_email == "eve@elsewhere.example"


async def test_the_requester_answering_from_a_plus_address_of_her_own_mailbox_stays_on_her_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    ask = "<ask-wifi@example.org>"
    dovecot.deliver(IMAP_USER, mail(subject="Wi-Fi password", message_id=ask))
    async with running_poller(config) as p:
        await p.pass_once()
        dovecot.deliver(IMAP_USER, mail(sender="Ana Pérez <Ana.Perez+School@example.org>", subject="Re: Wi-Fi",
                                        body="It works now, thank you.\n", headers=answering(ask)))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 1
    assert [c.body for c in store.details("1").comments] == ["It works now, thank you."]


async def test_a_mass_mailing_copies_nobody_onto_its_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    announcement = "<snow-day@lhs.example.org>"
    families = ", ".join(f"parent{i}@example.org" for i in range(30))
    dovecot.deliver(IMAP_USER, mail(sender="principal@lhs.example.org", to=f"{HELP}, {families}",
                                    subject="Snow day tomorrow", message_id=announcement))  # fmt: skip
    async with running_poller(config) as p:
        await p.pass_once()
        question = mail(sender="parent7@example.org", subject="Re: Snow day tomorrow",
                        body="Is the make-up day in June?\n", headers=answering(announcement))  # fmt: skip
        dovecot.deliver(IMAP_USER, question)
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 2
    assert store.get("1").requester_email == "principal@lhs.example.org"
    assert store.details("1").comments == []
    assert store.get("2").requester_email == "parent7@example.org"


async def test_district_staff_answering_from_outlook_with_the_desk_copied_lands_on_the_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink, identity={"csv": csv_settings()})
    ask = "<ask-laptop@example.org>"
    dovecot.deliver(IMAP_USER, mail(message_id=ask))
    async with running_poller(config) as p:
        await p.pass_once()
        dovecot.deliver(IMAP_USER, mail(sender="Grace Kim <grace.kim@district.test>",
                                        to=f"ana.perez@example.org, {HELP}", subject="RE: Chromebook will not charge",
                                        body="Bring it to the library at 3pm and we will swap it.\n",
                                        headers=answering(ask)))  # fmt: skip
        await p.pass_once()
        work(config)  # ticket #1 exists, so its tag names it
        # Staff quoting a message may answer on its thread; a ticket tag typed into a subject is not enough.
        dovecot.deliver(IMAP_USER, mail(sender="diego.flores@district.test", subject="RE: [#1] swap list",
                                        body="Adding this to the swap list.\n",
                                        headers=answering("<staff-memo-7@district.test>")))  # fmt: skip
        await p.pass_once()
    work(config)
    store = tickets(config)
    assert store.count() == 2
    assert store.get("2").requester_email == "diego.flores@district.test"
    answer = "Bring it to the library at 3pm and we will swap it."
    assert [c.body for c in store.details("1").comments] == [answer]
