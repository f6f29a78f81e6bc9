"""Messages that only count on a conversation we have (a Slack thread reply, an out-of-office note) are spooled
with their thread evidence while Redis is away, and threaded when the spool drains: kept if they continue a
conversation, counted and dropped if not. Everything spooled is threaded in the order it came."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from gateway.ids import fingerprint, new_id
from gateway.intake.pipeline import Arrival
from gateway.mail.poller import threaded_only_reason
from gateway.models import Commitment, InboundMessage, Route, ThreadHints
from gateway.settings import Settings
from tests.channels.email_support import mail, mail_config, running_poller
from tests.channels.slack.test_slack_events import metric
from tests.channels.slack_support import SlackGateway, event
from tests.conftest import start_gateway
from tests.gateway.store.test_durable_commit import spool_rows, wait_for
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from workers.backends.builtin import BuiltinBackend


def commitments(redis_server: RedisServer) -> dict[str, Commitment]:
    q = Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
    found = (Commitment.model_validate(j.args[0]) for j in q.jobs)
    return {c.message.provider_id or "": c for c in found}


async def test_slack_thread_replies_sent_while_redis_is_down_join_their_requests_when_it_returns(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    before = [event("event_app_mention.json") for _ in range(3)]
    for m in before:
        assert (await slack_gateway.event(m))[0] == 200
    redis_server.stop(kill=True)

    during = event("event_app_mention.json", text="<@U0HELPDESK> The printer in 110 is jammed.")
    replies = [event("event_thread_reply.json", thread_ts=m["event"]["ts"]) for m in [*before, during]]
    stranger = event("event_thread_reply.json", thread_ts="1699999999.000001")  # a thread that is not ours
    for body in [during, *replies, stranger]:
        assert (await slack_gateway.event(body))[0] == 200  # Slack will not send them again
    assert spool_rows(slack_gateway.settings) == 6

    redis_server.start()
    await wait_for(lambda: spool_rows(slack_gateway.settings) == 0, timeout=60)
    found = commitments(redis_server)
    assert sorted(found) == sorted(b["event_id"] for b in [*before, during, *replies])
    for m, r in zip([*before, during], replies, strict=True):
        assert (found[r["event_id"]].conversation, found[r["event_id"]].evidence) == (
            found[m["event_id"]].conversation, "provider_thread",
        )  # fmt: skip
    assert await metric(slack_gateway, "intake_ignored_total", channel="slack", reason="not_our_thread") == 1


async def test_an_out_of_office_note_spooled_while_redis_is_down_is_added_to_its_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    dovecot.deliver(IMAP_USER, mail(sender="teacher@district-staff.example"))
    async with running_poller(config) as p:
        await p.pass_once()
        assert intake(config, "worker", "--burst").returncode == 0
        [ack] = smtp_sink.wait_for(1)
        ooo = mail(sender="teacher@district-staff.example", subject="Out of office", body="I am out until Monday.\n",
                   headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ack.message["Message-ID"]})  # fmt: skip
        away = mail(sender="stranger@example.org", subject="Automatic reply: away", body="I am away.\n",
                    headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
        redis_server.stop(kill=True)
        # What the poller does with a batch it fetched (gateway/mail/poller.py), with Redis gone meanwhile.
        arrivals = []
        decided = await p.poller.parsers.decide({1: ooo, 2: away}, "help")
        for raw, d in zip((ooo, away), (decided[1], decided[2]), strict=True):
            assert d.message is not None
            arrivals.append(Arrival(d.message, raw, threaded_only_reason(d)))
        results = await p.runtime.pipeline.accept_all(arrivals, scope="email")
        assert [r is not None and r.spooled for r in results] == [True, True]  # safe to move both to Processed
        redis_server.start()
        assert await p.runtime.committer.drain_now() == 2
        ignored = p.runtime.metrics.registry.get_sample_value(
            "intake_ignored_total", {"channel": "email", "reason": "auto_reply_without_conversation"}
        )
    assert ignored == 1
    assert intake(config, "worker", "--burst").returncode == 0
    store = BuiltinBackend.from_settings(p.settings)
    assert store.count() == 1
    assert [c.body for c in store.details("1").comments] == ["I am out until Monday."]
    assert len(smtp_sink.messages) == 1


OLD_SCHEMA = """
CREATE TABLE spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    spooled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


def text_from(phone: str, body: str) -> Commitment:
    m = InboundMessage(id=new_id(), channel="sms", account="main", provider_id=f"SM{new_id()}", sender=phone,
                       text=body, thread_hints=ThreadHints(sender_continuity=True))  # fmt: skip
    return Commitment(message=m, fingerprint=fingerprint("sms", "main", m.provider_id, b""), conversation=m.id,
                      route=Route())  # fmt: skip


async def test_a_spool_left_by_the_previous_release_drains_and_its_texts_are_threaded(
    settings: Settings, redis_server: RedisServer
) -> None:
    """Rows spooled before an upgrade carry no thread decision worth keeping: they are threaded as they drain."""
    spooled = [text_from("+15553019999", "The bus is late."), text_from("+15553019999", "Still late.")]
    settings.data_path.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(settings.path_in_data("spool.sqlite3"))
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO spool (fingerprint, request_id, payload) VALUES (?, ?, ?)",
                   [(c.fingerprint, c.message.id, c.model_dump_json()) for c in spooled])  # fmt: skip
    db.commit()
    db.close()
    server, http = await start_gateway(settings)
    try:
        await wait_for(lambda: spool_rows(settings) == 0, timeout=60)
    finally:
        await http.close()
        await server.close()
    first, second = (commitments(redis_server)[c.message.provider_id or ""] for c in spooled)
    assert (first.evidence, second.evidence) == ("new", "sender_continuity")
    assert second.conversation == first.conversation == spooled[0].message.id
