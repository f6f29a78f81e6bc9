"""The poller reads ahead: the next batch is fetched and parsed while the one before it waits for its commit.

Reading ahead must keep every promise of the sequential poller: nothing is moved before its commit, a follow-up
in a later batch joins the message it answers, and a pass that fails with a batch read ahead leaves that batch in
the inbox for the next pass, which takes each message once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.mail.imap import ImapError
from gateway.mail.poller import RUNS_IN_FLIGHT
from tests.channels.email.test_email_size_limits import fetches_of_bodies, with_file
from tests.channels.email_support import mail, mail_config, running_poller
from tests.gateway.intake.test_same_batch_threading import (
    FAMILIES,
    ask,
    assert_each_follow_up_joined_its_ask,
    commitments,
    commits_held,
    follow_up,
    until,
)
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.redis_server import RedisServer


async def test_the_next_batch_is_fetched_while_the_one_before_waits_for_its_commit_and_none_is_moved_before_it(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    # Batches of 3: most follow-ups arrive in the batch after the message they answer.
    config = mail_config(tmp_path, redis_server, dovecot, None, fetch_batch=3, redis={"socket_timeout_s": 120})
    async with running_poller(config) as p:
        assert await p.pass_once() == 0  # connected, folders in place
        for i in range(FAMILIES):
            dovecot.deliver(IMAP_USER, ask(i))
            dovecot.deliver(IMAP_USER, follow_up(i))
        async with commits_held(redis_server):
            passing = asyncio.create_task(p.pass_once())
            await until(lambda: len(fetches_of_bodies(dovecot)) >= 2)
            # The first batch's commit is held: the next ones were fetched meanwhile, and nothing was moved.
            await until(lambda: len(fetches_of_bodies(dovecot)) >= RUNS_IN_FLIGHT)
            assert dovecot.message_count(IMAP_USER, "Processed") == 0
            assert not passing.done()
        assert await asyncio.wait_for(passing, 120) == 2 * FAMILIES
        assert len(p.runtime.committer.uncommitted) == 0
    assert first_move_at(dovecot) == RUNS_IN_FLIGHT  # and no more were read ahead of the first move
    assert dovecot.message_count(IMAP_USER, "Processed") == 2 * FAMILIES
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert_each_follow_up_joined_its_ask(redis_server)


async def test_a_pass_that_fails_with_a_batch_read_ahead_leaves_it_in_the_inbox_and_the_next_takes_each_once(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, fetch_batch=3)
    async with running_poller(config) as p:
        assert await p.pass_once() == 0  # connected, folders in place
        # The processed folder vanishes under us: the first batch commits, its MOVE fails, the second was read ahead.
        dovecot.doveadm("mailbox", "delete", "-u", IMAP_USER, "Processed")
        dovecot.deliver_many(IMAP_USER, [mail(subject=f"Question {i}") for i in range(7)])
        with pytest.raises(ImapError):
            await p.pass_once()
    assert dovecot.message_count(IMAP_USER, "INBOX") == 7  # none lost
    async with running_poller(config) as p:  # a new poller: the folder again, the first batch's are duplicates
        assert await p.pass_once() == 7
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert dovecot.message_count(IMAP_USER, "Processed") == 7
    taken = commitments(redis_server)
    assert len(taken) == 7
    assert len({c.message.provider_id for c in taken}) == 7  # none doubled


def first_move_at(dovecot: Dovecot) -> int:
    """Where the first UID MOVE stands among the bodies fetched: how many were fetched before it."""
    fetched = 0
    for command in dovecot.imap_commands(IMAP_USER):
        if command.upper().startswith("UID MOVE"):
            return fetched
        fetched += "BODY.PEEK[]" in command.upper()
    raise AssertionError("nothing was moved")


async def test_reading_ahead_holds_no_more_than_one_fetch_may(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    # Runs of one message of about 16 KB each, and 40,000 bytes allowed in one fetch: two runs fit, not three.
    config = mail_config(
        tmp_path, redis_server, dovecot, None, fetch_batch=1, max_message_bytes=40_000, redis={"socket_timeout_s": 120}
    )
    async with running_poller(config) as p:
        assert await p.pass_once() == 0  # connected, folders in place
        dovecot.deliver_many(IMAP_USER, [with_file(12_000, f"photo {i}") for i in range(5)])
        async with commits_held(redis_server):
            passing = asyncio.create_task(p.pass_once())
            await until(lambda: len(fetches_of_bodies(dovecot)) >= 2)
        assert await asyncio.wait_for(passing, 120) == 5
    # The second run was read ahead of the first one's move, the third only once the first was moved.
    assert first_move_at(dovecot) == 2
    assert dovecot.message_count(IMAP_USER, "Processed") == 5
