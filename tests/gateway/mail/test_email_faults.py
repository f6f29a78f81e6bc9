"""The IMAP poller under faults: crashes between commit and move, server restarts, renumbered UIDs,
two pollers, servers without MOVE, TLS, silent mailboxes, and archive imports."""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.mail.health import evaluate
from gateway.mail.imap import ImapError
from gateway.mail.poller import MailboxPoller
from gateway.settings import EmailSettings, Mailbox, MailServer
from tests.channels.email_support import mail, mail_config, operator_views, running_poller
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend


def ticket_count(config: Path) -> int:
    assert intake(config, "worker", "--burst").returncode == 0
    return BuiltinBackend.from_settings(settings_from(config)).count()


@contextlib.asynccontextmanager
async def polling(*pollers: MailboxPoller) -> AsyncIterator[None]:
    """Run pollers in the background; always stop them, whatever the test body does."""
    tasks = [asyncio.create_task(p.run_forever()) for p in pollers]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        # A poller must stop when cancelled (Ctrl-C on `intake mail`): fail fast, with where it hung.
        _, pending = await asyncio.wait(tasks, timeout=15)
        assert not pending, f"a poller ignored its cancellation: {[t.get_stack() for t in pending]}"
        for t in tasks:
            if not t.cancelled():
                t.exception()


def count(dovecot: Dovecot, folder: str) -> int:
    """Messages in a folder, 0 until the poller has created it."""
    try:
        return dovecot.message_count(IMAP_USER, folder)
    except RuntimeError:
        return 0


async def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_poller_that_dies_after_the_commit_and_before_the_move_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    async with running_poller(config) as p:
        assert await p.pass_once() == 0  # connected, folders in place
        # The processed folder vanishes under us: the commit succeeds, then the MOVE fails.
        dovecot.doveadm("mailbox", "delete", "-u", IMAP_USER, "Processed")
        dovecot.deliver(IMAP_USER, mail())
        with pytest.raises(ImapError):
            await p.pass_once()
    assert dovecot.message_count(IMAP_USER, "INBOX") == 1  # still there: never lost

    async with running_poller(config) as p:  # a new poller process: recreates the folder, finds a duplicate
        await p.pass_once()
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert dovecot.message_count(IMAP_USER, "Processed") == 1
    assert ticket_count(config) == 1


async def test_a_folder_the_server_refuses_to_create_is_a_clear_error(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, box={"processed_folder": "~Processed"})
    async with running_poller(config) as p:
        with pytest.raises(ImapError, match="cannot create folder '~Processed'"):
            await p.pass_once()


async def test_dovecot_restarted_mid_run_the_poller_reconnects_and_misses_nothing(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, fetch_batch=5, reconnect_max_s=1)
    dovecot.deliver_many(IMAP_USER, [mail(subject=f"before {i}") for i in range(30)])
    async with running_poller(config) as p, polling(p.poller):
        await wait_until(lambda: count(dovecot, "Processed") >= 5)
        dovecot.restart()
        dovecot.deliver_many(IMAP_USER, [mail(subject=f"after {i}") for i in range(10)])
        await wait_until(lambda: count(dovecot, "Processed") == 40, timeout=120)  # a loaded machine
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert ticket_count(config) == 40


async def test_new_mail_during_idle_is_picked_up_without_waiting_for_the_poll(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, poll_interval_s=60)
    async with running_poller(config) as p, polling(p.poller):
        await wait_until(lambda: "Processed" in dovecot.folders(IMAP_USER))
        await asyncio.sleep(0.5)  # now in IDLE
        started = time.monotonic()
        dovecot.deliver(IMAP_USER, mail())
        await wait_until(lambda: count(dovecot, "Processed") == 1, timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 10


async def test_a_uidvalidity_change_rescans_without_doubling_anything(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    originals = [mail(subject=f"ask {i}") for i in range(3)]
    async with running_poller(config) as p:
        dovecot.deliver_many(IMAP_USER, originals)
        await p.pass_once()
        # An administrator restores the processed mail into the inbox, and the server renumbers it.
        dovecot.deliver_many(IMAP_USER, originals)
        dovecot.deliver(IMAP_USER, mail(subject="really new"))
        dovecot.bump_uidvalidity(IMAP_USER)
        await p.poller.session.close()
        await p.pass_once()
    assert dovecot.message_count(IMAP_USER, "INBOX") == 0
    assert ticket_count(config) == 4


async def test_two_pollers_on_one_mailbox_only_one_fetches(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    dovecot.deliver_many(IMAP_USER, [mail(subject=f"ask {i}") for i in range(20)])
    async with running_poller(config) as a, running_poller(config) as b, polling(a.poller, b.poller):
        await wait_until(lambda: count(dovecot, "Processed") == 20)
        connected = [a.poller.session.client is not None, b.poller.session.client is not None]
    assert sorted(connected) == [False, True]
    fetches = [c for c in dovecot.imap_commands(IMAP_USER) if "FETCH" in c.upper()]
    assert fetches, "no FETCH seen: the check proves nothing"
    assert ticket_count(config) == 20


async def test_without_move_the_poller_copies_flags_and_expunges_only_its_own_uids(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    server = Dovecot(disabled_capabilities={"MOVE"})
    try:
        server.add_user(IMAP_USER, IMAP_PASSWORD)
        server.start()
        config = mail_config(tmp_path, redis_server, server, None)
        server.deliver(IMAP_USER, mail())
        async with running_poller(config) as p:
            await p.pass_once()
        commands = " ".join(server.imap_commands(IMAP_USER)).upper()
        assert server.message_count(IMAP_USER, "Processed") == 1
        assert server.message_count(IMAP_USER, "INBOX") == 0
        assert "UID COPY" in commands and "UID EXPUNGE" in commands
        assert "UID MOVE" not in commands
    finally:
        server.close()


@contextlib.contextmanager
def tls_mailbox(security: str) -> Iterator[tuple[Dovecot, dict[str, object]]]:
    """A Dovecot speaking TLS (a certificate made for it), and a mailbox's `imap` settings that reach it by `security`
    ("tls" on its IMAPS port, "starttls" on the plain one) and verify it."""
    server = Dovecot(tls=True)
    try:
        server.add_user(IMAP_USER, IMAP_PASSWORD)
        server.start()
        port = server.imaps_port if security == "tls" else server.port
        yield server, {"security": security, "port": port, "host": "localhost", "ca_file": str(server.cert),
                       "user": IMAP_USER, "password": IMAP_PASSWORD}  # fmt: skip
    finally:
        server.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls_connections_verify_the_server(
    tmp_path: Path, redis_server: RedisServer, security: str
) -> None:
    with tls_mailbox(security) as (server, imap):
        config = mail_config(tmp_path, redis_server, server, None, box={"imap": imap})
        server.deliver(IMAP_USER, mail())
        async with running_poller(config) as p:
            assert await p.pass_once() == 1


async def test_a_wrong_password_is_counted_and_the_mailbox_turns_unhealthy(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    imap = {"host": dovecot.host, "port": dovecot.port, "security": "none", "user": IMAP_USER, "password": "nope"}
    config = mail_config(tmp_path, redis_server, dovecot, None, box={"imap": imap}, reconnect_max_s=0.2)
    async with running_poller(config) as p, polling(p.poller):
        # doctor runs in a thread: a subprocess waited for on the event loop would starve the poller it watches.
        deadline = time.monotonic() + 180
        failures = 0
        while failures < 3 and time.monotonic() < deadline:
            said = (await asyncio.to_thread(intake, config, "doctor")).stdout
            failures = max([int(n) for n in re.findall(r"login failed (\d+) times in a row", said)] or [0])
        assert failures >= 3, said


def test_a_mailbox_silent_during_school_hours_is_unhealthy_but_not_at_night_or_on_weekends() -> None:
    zone = ZoneInfo("America/Chicago")
    box = Mailbox(address="help@d.example", imap=MailServer(host="x", port=993), silence_alarm_minutes=120)
    conf = EmailSettings(mailboxes={"help": box})
    tuesday_noon = datetime(2026, 11, 17, 12, 0, tzinfo=zone)
    checked = (tuesday_noon - timedelta(minutes=1)).isoformat()
    quiet = {"checked_at": checked, "last_message_at": (tuesday_noon - timedelta(hours=3)).isoformat()}
    busy = {"checked_at": checked, "last_message_at": (tuesday_noon - timedelta(minutes=30)).isoformat()}
    assert not evaluate("help", box, conf, quiet, tuesday_noon).ok
    assert evaluate("help", box, conf, busy, tuesday_noon).ok
    night = tuesday_noon.replace(hour=22)
    assert evaluate("help", box, conf, {**quiet, "checked_at": night.isoformat()}, night).ok
    saturday = tuesday_noon + timedelta(days=4)
    assert evaluate("help", box, conf, {**quiet, "checked_at": saturday.isoformat()}, saturday).ok
    # Quiet since the night before counts only from the start of school hours.
    morning = tuesday_noon.replace(hour=8)
    overnight = {"checked_at": morning.isoformat(), "last_message_at": (morning - timedelta(hours=12)).isoformat()}
    assert evaluate("help", box, conf, overnight, morning).ok


async def test_a_poller_that_stopped_checking_in_is_reported_at_any_hour(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    """osTicket #6455: a fetcher stopped and nobody heard for ten days. Silence is only suspect in school hours; a
    poller that no longer checks in is a fault at any hour."""
    import redis

    from gateway import keys

    config = mail_config(tmp_path, redis_server, dovecot, None)
    async with running_poller(config) as p:
        await p.pass_once()
    assert "has not checked in" not in intake(config, "doctor").stdout
    client = redis.Redis.from_url(redis_server.url)
    try:
        checked = datetime.fromisoformat(client.hget(keys.mail_health("help"), "checked_at").decode())
        # The poller's process died 16 minutes ago: its last check-in is that old.
        client.hset(keys.mail_health("help"), "checked_at", (checked - timedelta(minutes=16)).isoformat())
    finally:
        client.close()
    report = intake(config, "doctor")
    assert "the poller has not checked in for over 15 minutes" in report.stdout
    box = Mailbox(address="help@d.example", imap=MailServer(host="x", port=993))
    sunday_night = datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("America/Chicago"))
    stale = {"checked_at": (sunday_night - timedelta(minutes=16)).isoformat()}
    health = evaluate("help", box, EmailSettings(mailboxes={"help": box}), stale, sunday_night)
    assert health.problems == ("the poller has not checked in for over 15 minutes",)
    fresh = {"checked_at": (sunday_night - timedelta(minutes=14)).isoformat()}
    assert evaluate("help", box, EmailSettings(mailboxes={"help": box}), fresh, sunday_night).ok


def test_import_mbox_twice_creates_nothing_new(tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    archive = tmp_path / "old.mbox"
    box = mailbox.mbox(archive)
    for i in range(25):
        box.add(mail(subject=f"archived {i}"))
    box.close()
    first = intake(config, "import-mbox", str(archive))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "25 new, 0 duplicate" in first.stdout
    second = intake(config, "import-mbox", str(archive))
    assert "0 new, 25 duplicate" in second.stdout
    assert ticket_count(config) == 25


def test_mail_seen_before_stays_a_duplicate_after_the_dedupe_window(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    """Chatwoot #12054: old mail came back as new conversations. An archive imported again months later (past
    `redis.dedupe_ttl_days`) is still recognised by its Message-IDs, which are kept as long as threads are."""
    config = mail_config(tmp_path, redis_server, dovecot, None)
    archive = tmp_path / "old.mbox"
    box = mailbox.mbox(archive)
    for i in range(5):
        box.add(mail(subject=f"archived {i}"))
    box.close()
    assert "5 new, 0 duplicate" in intake(config, "import-mbox", str(archive)).stdout
    assert ticket_count(config) == 5
    client = redis_server.client()
    claims = list(client.scan_iter("ig:dedupe:*"))
    finished_jobs = list(client.scan_iter("rq:job:deliver-*"))
    assert len(claims) == 5
    client.delete(*claims, *finished_jobs)  # what the dedupe window and rq's result_ttl do in time
    again = intake(config, "import-mbox", str(archive))
    assert "0 new, 5 duplicate" in again.stdout, again.stdout + again.stderr[-2000:]
    assert ticket_count(config) == 5


def test_import_reads_a_maildir_too(tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    folder = mailbox.Maildir(tmp_path / "Maildir")
    for i in range(3):
        folder.add(mail(subject=f"maildir {i}"))
    result = intake(config, "import-mbox", str(tmp_path / "Maildir"))
    assert "3 new" in result.stdout
    assert ticket_count(config) == 3


async def test_an_unhealthy_mailbox_shows_in_readyz_and_metrics(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None)
    ready, metrics = await operator_views(config)
    # No poller has ever checked it: that is exactly the silent failure operators must see.
    assert ready["status"] == "degraded"
    assert ready["mailboxes"]["help"]["ok"] is False
    assert "the poller has never checked this mailbox" in ready["mailboxes"]["help"]["problems"]
    assert 'intake_mailbox_healthy{mailbox="help"} 0.0' in metrics


async def test_a_quiet_mailbox_is_not_a_broken_connection(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, None, poll_interval_s=0.3)
    async with running_poller(config) as p, polling(p.poller):
        await asyncio.sleep(3)  # ten quiet IDLE rounds
        dovecot.deliver(IMAP_USER, mail())
        await wait_until(lambda: count(dovecot, "Processed") == 1, timeout=5)
    assert not [r for r in caplog.records if "reconnecting" in r.getMessage()]
