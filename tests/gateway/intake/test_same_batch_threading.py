"""A reply resolved in the same group commit as the message it answers joins it, on every channel.

Every message is resolved against what was committed before it, and that includes the earlier
messages of its own batch and of a batch still in flight. Each test builds the situation for real: a
whole archive or inbox in one batch, or Redis holding the first messages' commit (`CLIENT PAUSE
WRITE`: reads go on, the commit script waits) while the answers arrive and are resolved.
"""

from __future__ import annotations

import asyncio
import mailbox
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rq import Queue
from rq.serializers import JSONSerializer

from gateway.models import Commitment
from gateway.server import appkeys as K
from gateway.store.group_commit import GroupCommitter
from tests.channels.email_support import mail, mail_config, running_poller
from tests.channels.slack_support import SlackGateway, event
from tests.channels.twilio_support import PUBLIC, sms, sms_gateway, twilio_settings
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import SlackAPI, slack_config
from workers.backends.builtin import BuiltinBackend

FAMILIES = 20


def commitments(redis_server: RedisServer) -> list[Commitment]:
    q = Queue("deliver-builtin", connection=redis_server.client(), serializer=JSONSerializer)
    return [Commitment.model_validate(j.args[0]) for j in q.jobs]


def by_provider_id(redis_server: RedisServer) -> dict[str, Commitment]:
    return {c.message.provider_id or "": c for c in commitments(redis_server)}


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def commits_held(redis_server: RedisServer) -> AsyncIterator[None]:
    """Redis answers reads but holds every write (the commit script) until the block ends."""
    admin = redis_server.client()
    admin.execute_command("CLIENT", "PAUSE", "300000", "WRITE")
    try:
        yield
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()


async def answers_behind_held_commits(
    committer: GroupCommitter,
    redis_server: RedisServer,
    first: Sequence[Callable[[], Any]],
    then: Sequence[Callable[[], Any]],
) -> list[Any]:
    """Send `first` and let them reach the commit, which Redis holds; then send `then` and let them be resolved
    (each is either waiting for the commit too, or was answered without one); then let Redis write."""
    async with commits_held(redis_server):
        early = [asyncio.create_task(send()) for send in first]
        await until(lambda: committer.waiting == len(first))
        late = [asyncio.create_task(send()) for send in then]
        await until(lambda: committer.waiting + sum(t.done() for t in late) == len(first) + len(then))
    answers = list(await asyncio.gather(*early, *late))
    assert len(committer.uncommitted) == 0  # what threading kept of them left once Redis had it
    return answers


def ask(i: int) -> bytes:
    return mail(
        sender=f"Parent {i} <parent{i}@example.org>",
        subject=f"Bus stop {i}",
        body=f"The bus did not stop at stop {i} this morning.\n",
        message_id=f"<ask-{i}@home.example>",
    )


def follow_up(i: int) -> bytes:
    quoted = f"Any news?\n\nOn Monday, Parent {i} wrote:\n> The bus did not stop at stop {i} this morning.\n"
    asked = f"<ask-{i}@home.example>"
    return mail(
        sender=f"Parent {i} <parent{i}@example.org>",
        subject=f"Re: Bus stop {i}",
        body=quoted,
        message_id=f"<again-{i}@home.example>",
        headers={"In-Reply-To": asked, "References": asked},
    )


def assert_each_follow_up_joined_its_ask(redis_server: RedisServer, evidence: str = "in_reply_to") -> None:
    found = by_provider_id(redis_server)
    assert len(found) == 2 * FAMILIES
    for i in range(FAMILIES):
        asked, again = found[f"ask-{i}@home.example"], found[f"again-{i}@home.example"]
        assert (again.conversation, again.evidence) == (asked.conversation, evidence)
    assert len({c.conversation for c in found.values()}) == FAMILIES


def test_an_archive_of_messages_and_their_follow_ups_makes_one_ticket_per_family(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    """The reproduction from issue 13: 20 families, a message and a follow-up quoting it each, one archive."""
    config = mail_config(tmp_path, redis_server, dovecot, None)
    archive = tmp_path / "families.mbox"
    box = mailbox.mbox(archive)
    for i in range(FAMILIES):
        box.add(ask(i))
    for i in range(FAMILIES):
        box.add(follow_up(i))
    box.close()
    result = intake(config, "import-mbox", str(archive))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{2 * FAMILIES} new, 0 duplicate" in result.stdout
    assert_each_follow_up_joined_its_ask(redis_server)
    worked = intake(config, "worker", "--burst", timeout=300)
    assert worked.returncode == 0, worked.stderr[-2000:]
    assert BuiltinBackend.from_settings(settings_from(config)).count() == FAMILIES


async def test_an_inbox_catching_up_threads_each_follow_up_on_its_message_fetched_in_the_same_batch(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    for i in range(FAMILIES):  # interleaved, as a mailbox receives them
        dovecot.deliver(IMAP_USER, ask(i))
        dovecot.deliver(IMAP_USER, follow_up(i))
    async with running_poller(config) as p:
        assert await p.pass_once() == 2 * FAMILIES
        assert len(p.runtime.committer.uncommitted) == 0
    assert_each_follow_up_joined_its_ask(redis_server)


async def test_a_familys_second_text_sent_while_the_first_is_committing_continues_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(
        tmp_path, redis_server.url, server={"public_base_url": PUBLIC}, channels={"twilio": twilio_settings()},
        redis={"socket_timeout_s": 120},  # the held commit is no outage
    )  # fmt: skip
    phones = [f"+1555301{i:04d}" for i in range(FAMILIES)]
    async with sms_gateway(config) as gw:
        statuses = await answers_behind_held_commits(
            gw.server.app[K.COMMITTER],
            redis_server,
            [lambda p=p: gw.post("/hooks/twilio/sms", sms("The bus did not come.", From=p)) for p in phones],
            [lambda p=p: gw.post("/hooks/twilio/sms", sms("Still nothing at the stop.", From=p)) for p in phones],
        )
    assert [status for status, _ in statuses] == [200] * 2 * FAMILIES
    by_sender: dict[str, list[Commitment]] = {}
    for c in commitments(redis_server):
        by_sender.setdefault(c.message.sender, []).append(c)
    assert sorted(by_sender) == phones
    for first, second in (
        sorted(cs, key=lambda c: c.message.text == "Still nothing at the stop.") for cs in by_sender.values()
    ):
        assert (first.evidence, second.evidence) == ("new", "sender_continuity")
        assert second.conversation == first.conversation


async def test_slack_thread_replies_sent_while_their_requests_are_committing_join_them(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    config = write_config(tmp_path, redis_server.url, channels={"slack": slack_config(slack_api)},
                          redis={"socket_timeout_s": 120})  # fmt: skip
    from tests.conftest import start_gateway

    server, http = await start_gateway(settings_from(config))
    gw = SlackGateway(server, http, settings_from(config))
    mentions = [event("event_app_mention.json") for _ in range(FAMILIES)]
    replies = [event("event_thread_reply.json", thread_ts=m["event"]["ts"]) for m in mentions]
    try:
        statuses = await answers_behind_held_commits(
            server.app[K.COMMITTER],
            redis_server,
            [lambda m=m: gw.event(m) for m in mentions],
            [lambda r=r: gw.event(r) for r in replies],
        )
    finally:
        await http.close()
        await server.close()
    assert [status for status, _ in statuses] == [200] * 2 * FAMILIES
    found = by_provider_id(redis_server)
    assert len(found) == 2 * FAMILIES  # no reply was taken for a stranger's thread and dropped
    for m, r in zip(mentions, replies, strict=True):
        asked, answer = found[m["event_id"]], found[r["event_id"]]
        assert (answer.conversation, answer.evidence) == (asked.conversation, "provider_thread")
