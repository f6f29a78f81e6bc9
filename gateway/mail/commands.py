"""What `intake mail` and `intake import-mbox` run."""

from __future__ import annotations

import asyncio
import itertools
import logging
import mailbox
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway.intake.pipeline import Arrival
from gateway.intake.runtime import Runtime, build_runtime
from gateway.mail.answers import HelpDeskMail
from gateway.mail.parsing import MailParsers
from gateway.mail.poller import MailboxPoller, threaded_only_reason
from gateway.routing.router import refresh_forever
from gateway.server.eventloop import settle_heap
from gateway.settings import Settings
from gateway.store.redis_conn import sync_client
from gateway.tasks import cancel_and_wait, until_stopped_or_dead
from workers.backends import mail_answering

log = logging.getLogger("intake.mail")

IMPORT_BATCH = 200


async def _with_runtime(settings: Settings, spool: str) -> tuple[Runtime, list[asyncio.Task[None]]]:
    rt = build_runtime(settings, spool)
    tasks = [asyncio.create_task(rt.committer.run(), name="commit"),
             asyncio.create_task(rt.committer.drain_forever(), name="spool-drain")]  # fmt: skip
    # Rules and closures stay current in the mail process too: it routes what it fetches.
    refresh = refresh_forever(rt.pipeline.router, rt.redis, settings.routing.reload_interval_s)
    tasks.append(asyncio.create_task(refresh, name="rules-refresh"))
    return rt, tasks


async def _stop(rt: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    await cancel_and_wait(*tasks)
    await rt.close()


async def run_mail(settings: Settings) -> int:
    """Poll every configured mailbox until SIGINT/SIGTERM (exit code 0), or until a loop that should run for ever
    ended (1): the supervisor then restarts the process, rather than keep one up that polls nothing."""
    rt, tasks = await _with_runtime(settings, "spool-mail.sqlite3")
    parsers = MailParsers(settings)  # every mailbox's mail is parsed in these processes, off the event loop
    conf = settings.channels.email
    sync_redis = sync_client(settings)
    desks = HelpDeskMail(mail_answering(settings), rt.redis, sync_redis, settings)
    pollers = [MailboxPoller(n, b, conf, parsers, rt.pipeline, rt.redis, rt.metrics, desks)
               for n, b in conf.mailboxes.items()]  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await parsers.start()
    settle_heap()  # as the web process does: later full collections never walk the start's objects again
    running = [asyncio.create_task(p.run_forever(), name=f"mail:{p.name}") for p in pollers]
    log.info("polling mailboxes", extra={"count": len(pollers)})
    try:
        dead = await until_stopped_or_dead(stop, [*running, *tasks])
    finally:
        await cancel_and_wait(*running)
        await _stop(rt, tasks)
        sync_redis.close()
        parsers.close()
    return 1 if dead else 0


def _open(path: Path) -> mailbox.Mailbox[mailbox.Message]:
    return mailbox.Maildir(path, create=False) if path.is_dir() else mailbox.mbox(path, create=False)


def archive_size(path: Path) -> int:
    box = _open(path)
    try:
        return len(box)
    finally:
        box.close()


def archive_messages(path: Path) -> Iterator[bytes]:
    """The raw messages of an mbox file or a Maildir folder, in order."""
    box = _open(path)
    try:
        for key in list(box.iterkeys()):
            yield box.get_bytes(key)
    finally:
        box.close()


def _next_batch(messages: Iterator[bytes]) -> list[bytes]:
    return list(itertools.islice(messages, IMPORT_BATCH))


async def import_archive(
    settings: Settings, path: Path, account: str, advance: Callable[[int], None]
) -> dict[str, int]:
    """Feed an archive through the same pipeline as live mail. Idempotent: Message-IDs dedupe a second run.

    The messages are parsed in the same pool of processes as `intake mail`'s, off the event loop: the loop
    keeps committing, draining the spool and renewing what it holds while a large archive is parsed."""
    rt, tasks = await _with_runtime(settings, "spool-import.sqlite3")
    parsers = MailParsers(settings)
    counts = {"new": 0, "duplicate": 0, "ignored": 0, "quarantined": 0}
    try:
        await parsers.start()
        messages = archive_messages(path)
        # Reading the archive (an mbox is scanned whole for its table of contents) is file work: a thread's.
        while batch := await asyncio.to_thread(_next_batch, messages):
            await _import_batch(rt, parsers, account, batch, counts)
            advance(len(batch))
        # Anything spooled must reach Redis before we say we are done (this raises if Redis is still away).
        await rt.committer.drain_now()
    finally:
        await _stop(rt, tasks)
        parsers.close()
    return counts


async def _import_batch(
    rt: Runtime, parsers: MailParsers, account: str, raws: list[bytes], counts: dict[str, int]
) -> None:
    # The parsing processes make the batch's files durable before they answer, as for live mail.
    decisions = await parsers.decide(dict(enumerate(raws)), account)
    arrivals = []
    for i, d in sorted(decisions.items()):
        if d.kind == "request" and d.message is not None:
            arrivals.append(Arrival(d.message, raws[i], threaded_only_reason(d)))
        elif d.kind == "quarantine":
            counts["quarantined"] += 1
        else:
            counts["ignored"] += 1
    # In the archive's order: a follow-up joins the message it answers, even in the same batch.
    for result in await rt.pipeline.accept_all(arrivals, scope="email"):
        counts["ignored" if result is None else "duplicate" if result.duplicate else "new"] += 1
