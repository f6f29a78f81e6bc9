"""A merge at the desk, followed by the family's next message: real web app, real threading (a text continues its
sender's conversation), real rq workers (`intake worker --burst`), real Redis and SQLite, Twilio's local stand-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway import keys
from gateway.store.redis_conn import async_client
from gateway.tickets import TicketStore
from gateway.web.desk.conversation import entries
from gateway.web.desk.threading import read_threading
from gateway.web.status_links import public_base, status_url
from tests.channels.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MAIN,
    SPANISH,
    SmsGateway,
    sms_gateway,
    text_in,
    texts,
    twilio_config,
    work,
)
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from workers.desk_actions import DeskService
from workers.retention import forget_conversations


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


async def _status_page(gw: SmsGateway, request_id: str, lang: str = "") -> str:
    link = status_url(public_base(gw.settings), gw.settings.signing_key(), request_id)
    async with gw.http.get(gw.base + urlsplit(link).path, params={"lang": lang} if lang else None) as page:
        assert page.status == 200
        return await page.text()


def _timeline(page: str) -> list[tuple[str, str]]:
    """The status page's timeline as the family reads it: (event, its words), in the order shown."""
    found = re.findall(r'<li data-event="([a-z_]+)">(.*?)</li>', page, re.S)
    return [(event, " ".join(re.sub(r"<time[^>]*>.*?</time>|<[^>]+>", " ", body).split())) for event, body in found]


async def test_after_a_merge_the_familys_next_text_in_the_merged_thread_is_a_comment_on_the_ticket_it_joined(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    settings = settings_from(config)
    store = TicketStore.from_settings(settings)
    desk = DeskService(store, settings, redis_server.client())
    r = redis_server.client()
    try:
        async with sms_gateway(config) as gw:
            await text_in(gw, "My son's Chromebook screen is cracked", To=MAIN)
            work(config)
            await text_in(gw, "La pantalla del Chromebook de mi hijo está rota", To=SPANISH)  # another thread
            work(config)
            assert store.count() == 2
            a, b = store.get(1), store.get(2)
            assert a.conversation != b.conversation
            desk.merge(a.id, b.id, "maria")
            await text_in(gw, "It is still cracked, when can we bring it in?", To=MAIN)  # A's thread, by sender
            work(config)
            assert store.count() == 2  # no new ticket
            assert r.hget(keys.conversation(a.conversation), "ticket_ref") == b"2"
            merged = store.get(1)
            assert (merged.status, merged.merged_into) == ("closed", 2)
            assert [c.body for c in store.details(1).comments] == []
            assert "It is still cracked, when can we bring it in?" in [c.body for c in store.details(2).comments]
            # A's clocks stopped with it: the closed ticket can never breach.
            assert all(a.conversation not in m.decode() for m in r.zrange(keys.SLA_DUE, 0, -1))

            # The status page of A's conversation shows the ticket it joined, and that ticket's status.
            before = len(texts(standin))
            desk.set_status(b.id, "in_progress", "maria", comment="Bring it to the library on Monday.")
            work(config)
            assert r.hget(keys.conversation(a.conversation), "status") == b"in_progress"
            page = await _status_page(gw, a.conversation)
            assert "Being worked on" in page and "#2" in page
            told = texts(standin)[before:]
            assert [(t["From"], t["Body"].endswith("Bring it to the library on Monday.")) for t in told] == [
                (SPANISH, True)
            ]  # told once, on the joined ticket's own thread
            assert store.get(1).status == "closed"
            # Forgetting A's conversation later (retention) leaves B's ticket key alone: it is not A's.
            forget_conversations(r, [a.conversation])
            assert r.get(keys.ticket("builtin", "2")) == b.conversation.encode()
            assert r.smembers(keys.ticket_merged("builtin", "2")) == set()
    finally:
        store.close()


async def test_either_merged_requests_status_page_tells_the_whole_joined_story_in_time_order(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    settings = settings_from(config)
    store = TicketStore.from_settings(settings)
    desk = DeskService(store, settings, redis_server.client())
    try:
        async with sms_gateway(config) as gw:
            await text_in(gw, "My son's Chromebook screen is cracked", To=MAIN)
            work(config)
            desk.reply(1, "Please bring it to the library.", "maria")
            desk.note(1, "Warranty ends in May.", "maria")  # for staff only: on no page a family sees
            work(config)
            await text_in(gw, "La pantalla del Chromebook de mi hijo está rota", To=SPANISH)  # another thread
            work(config)
            a, b = store.get(1), store.get(2)
            desk.merge(a.id, b.id, "maria")
            desk.set_status(b.id, "in_progress", "maria", comment="Bring it on Monday.")
            work(config)
            await text_in(gw, "It is still cracked.", To=MAIN)  # A's thread: now a comment on #2
            work(config)
            story = [
                ("received", "We received your request."),  # A's first text
                ("ticket_created", "Your request became ticket #1."),
                ("answer", "The help desk answered: Please bring it to the library."),
                ("received", "We received your request."),  # B's
                ("ticket_created", "Your request became ticket #2."),
                ("merged", "Your request #1 was joined with request #2, about the same problem."),
                ("status_changed", "Status changed to: Being worked on. Bring it on Monday."),  # recorded on both: once
                ("received", "We received your request."),  # A's thread again
                ("comment_added", "You added more information to your request."),
            ]
            for conv in (a.conversation, b.conversation):
                page = await _status_page(gw, conv, lang="en")
                assert _timeline(page) == story, conv
                assert "Warranty" not in page and "#2" in page

            # The desk's ticket page of the one that stayed: the merged request's messages among its own, and why
            # each of the family's texts is there, from both threads.
            conversation = [(e.kind, e.body) for e in entries(store.details(b.id))]
            assert conversation == [
                ("message", "My son's Chromebook screen is cracked"),
                ("reply", "Please bring it to the library."),
                ("note", "Warranty ends in May."),
                ("message", "La pantalla del Chromebook de mi hijo está rota"),
                ("reply", "Bring it on Monday."),
                ("status", "Bring it on Monday."),  # a status change's comment: a public reply, and on the change
                ("message", "It is still cracked."),
            ]
            client = async_client(settings)
            try:
                threading = await read_threading(client, b.conversation, b.id)
            finally:
                await client.aclose()
            assert [(m.channel, m.evidence) for m in threading.messages] == [
                ("sms", "new"),
                ("sms", "new"),
                ("sms", "sender_continuity"),
            ]
    finally:
        store.close()
