"""`intake mail` as a process, under faults: Redis going away and coming back, Redis away at start, the
process SIGKILLed. The poller must keep polling (or exit non-zero), never sit up and idle."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.email_support import mail, mail_config, running_poller
from tests.gateway.mail.test_email_faults import count, polling, ticket_count, tls_mailbox
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import start_process
from tests.support.redis_server import RedisServer
from tests.support.silent_proxy import SilentProxy
from tests.support.waiting import eventually


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def selects(dovecot: Dovecot) -> int:
    return sum(1 for c in dovecot.imap_commands(IMAP_USER) if " SELECT " in f" {c.upper()} ")


async def test_redis_stopped_and_restarted_under_a_running_poller_the_next_mail_becomes_a_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, processes: list[subprocess.Popen[bytes]]
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, poll_interval_s=0.3, reconnect_max_s=1)
    processes.append(start_process(config, tmp_path / "mail.log", "mail"))
    dovecot.deliver(IMAP_USER, mail(subject="before the blip"))
    await eventually(lambda: count(dovecot, "Processed") == 1, "the first mail moved to Processed")
    log = tmp_path / "mail.log"
    failures = log.read_text().count("reconnecting")
    seen = selects(dovecot)
    redis_server.stop(kill=True)

    def met_the_missing_redis() -> bool:
        # A pass selects the inbox, then reads its checkpoint; or the poller said it failed.
        return selects(dovecot) > seen or log.read_text().count("reconnecting") > failures

    await eventually(met_the_missing_redis, "the poller met the missing Redis")
    redis_server.start()
    dovecot.deliver(IMAP_USER, mail(subject="after the blip"))
    await eventually(lambda: count(dovecot, "Processed") == 2, "the mail sent after the blip moved to Processed")
    assert processes[0].poll() is None
    assert ticket_count(config) == 2


async def test_mail_started_while_redis_is_down_polls_once_redis_is_up(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, processes: list[subprocess.Popen[bytes]]
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, poll_interval_s=0.3, reconnect_max_s=1)
    redis_server.stop(kill=True)
    log = tmp_path / "mail.log"
    processes.append(start_process(config, log, "mail"))
    await eventually(lambda: log.exists() and "polling mailboxes" in log.read_text(), "intake mail started")
    dovecot.deliver(IMAP_USER, mail())
    redis_server.start()
    await eventually(lambda: count(dovecot, "Processed") == 1, "the mail polled once Redis came up")
    assert processes[0].poll() is None
    assert ticket_count(config) == 1


async def test_mail_sigkilled_mid_run_and_restarted_makes_every_message_exactly_one_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, processes: list[subprocess.Popen[bytes]]
) -> None:
    """The restarted process takes the mailbox over at once: the lock names a holder that is gone (the default
    lease, a minute, is not waited out), and whatever was committed but not moved is found a duplicate."""
    config = mail_config(tmp_path, redis_server, dovecot, None, poll_interval_s=0.3, reconnect_max_s=1, fetch_batch=5)
    dovecot.deliver_many(IMAP_USER, [mail(subject=f"ask {i}") for i in range(30)])
    log = tmp_path / "mail.log"
    processes.append(start_process(config, log, "mail"))
    await eventually(lambda: count(dovecot, "Processed") >= 5, "the first batch moved")
    os.killpg(processes[0].pid, signal.SIGKILL)
    processes[0].wait(30)
    processes.append(start_process(config, log, "mail"))
    await eventually(lambda: count(dovecot, "Processed") == 30, "every message moved after the restart")
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert ticket_count(config) == 30


async def test_an_idle_that_goes_silent_without_closing_is_noticed_and_the_poller_reconnects(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    """A firewall forgets the connection mid-IDLE: no data, no close. The poller's own timeouts must notice,
    and the next connection picks up what arrived meanwhile."""
    proxy = SilentProxy(dovecot.host, dovecot.port).start()
    try:
        imap = {"host": proxy.host, "port": proxy.port, "security": "none", "user": IMAP_USER,
                "password": IMAP_PASSWORD, "timeout_s": 2}  # fmt: skip
        config = mail_config(tmp_path, redis_server, dovecot, None, box={"imap": imap}, poll_interval_s=0.5,
                             reconnect_max_s=1)  # fmt: skip
        async with running_poller(config) as p, polling(p.poller):
            dovecot.deliver(IMAP_USER, mail(subject="before"))
            await eventually(lambda: count(dovecot, "Processed") == 1, "the first mail moved")
            connections = proxy.accepted
            proxy.silence()
            dovecot.deliver(IMAP_USER, mail(subject="while the connection is silent"))
            await eventually(lambda: proxy.accepted > connections, "the poller reconnected")
            await eventually(lambda: count(dovecot, "Processed") == 2, "the mail that came meanwhile moved")
        assert ticket_count(config) == 2
    finally:
        proxy.stop()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_the_mail_process_reads_a_mailbox_over_tls_and_starttls_on_its_own_event_loop(
    tmp_path: Path, redis_server: RedisServer, processes: list[subprocess.Popen[bytes]], security: str
) -> None:
    """`intake mail` runs on uvloop: the TLS handshake, and STARTTLS's upgrade of a live connection
    (loop.start_tls), happen there, not on the test's loop."""
    with tls_mailbox(security) as (server, imap):
        config = mail_config(tmp_path, redis_server, server, None, box={"imap": imap}, poll_interval_s=0.3)
        server.deliver(IMAP_USER, mail())
        processes.append(start_process(config, tmp_path / "mail.log", "mail"))
        await eventually(lambda: count(server, "Processed") == 1, f"the mail read over {security}")
        assert processes[0].poll() is None
        assert ticket_count(config) == 1
