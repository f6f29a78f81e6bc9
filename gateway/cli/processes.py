"""The processes: `intake serve`, `worker`, `mail`, `sync`, `up` (all of them on the embedded default), import-mbox."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import checked, settings, started
from gateway.errors import ConfigError
from gateway.logs import setup_logging
from gateway.settings import Settings

log = logging.getLogger("intake.cli")


@click.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the web process (webhooks, form, status pages, metrics)."""
    from aiohttp import web

    from gateway.server.app import create_app
    from gateway.server.eventloop import new_event_loop, settle_heap

    s = started(ctx)
    setup_logging(s.logging.level)
    log.info("serving", extra={"host": s.server.host, "port": s.server.port})
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        app = create_app(s)
    except ConfigError as exc:  # a directory export that cannot be read at start
        for problem in exc.problems:
            click.echo(f"config error: {problem}", err=True)
        ctx.exit(2)
    settle_heap()
    web.run_app(app, host=s.server.host, port=s.server.port, print=None, access_log=None, loop=loop)


@click.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.option(
    "--first",
    multiple=True,
    metavar="QUEUE",
    help="Take this queue's jobs before the others' (repeatable): `--first replies` keeps acknowledgements going "
    "while deliveries never run out.",
)
@click.pass_context
def worker(ctx: click.Context, burst: bool, first: tuple[str, ...]) -> None:
    """Run an rq worker on the gateway's queues (deliveries first, then events, then replies)."""
    from gateway.server.eventloop import settle_heap
    from gateway.store.redis_conn import sync_client
    from workers import context
    from workers.runner import WorkerQuit, queue_names, run_worker

    s = started(ctx)
    try:
        queue_names(s, first)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--first") from None
    setup_logging(s.logging.level)
    context.configure(s)
    settle_heap()  # as the web process does: a job's short-lived objects are collected without walking the start's
    try:
        run_worker(sync_client(s), s, burst=burst, first=first)
    except WorkerQuit:
        log.error("worker stopped: its loop died (exit 1, for the supervisor to start a new one)")
        ctx.exit(1)


@click.command()
@click.pass_context
def mail(ctx: click.Context) -> None:
    """Run the IMAP poller for the configured mailboxes (one poller per mailbox across instances)."""
    from gateway.mail.commands import run_mail
    from gateway.server.eventloop import new_event_loop

    s = started(ctx)
    setup_logging(s.logging.level)
    if not s.channels.email.enabled:
        click.echo("no mailboxes are configured (channels.email.mailboxes): nothing to poll", err=True)
        ctx.exit(1)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop, as the web process: transports in C
        code = runner.run(run_mail(s))
    ctx.exit(code)


@click.command()
@click.pass_context
def sync(ctx: click.Context) -> None:
    """Poll the ticket systems that send no webhooks for status changes and staff answers (one poller for all)."""
    import threading

    from workers import context
    from workers.status_sync import polling_backends, sync_main

    s = started(ctx)
    setup_logging(s.logging.level)
    context.configure(s)
    backends = polling_backends(s)
    if not backends:
        click.echo("no enabled ticket system is polled for status (RT, Redmine): nothing to do", err=True)
        ctx.exit(1)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = sync_main(s, stop, backends)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ctx.exit(code)


def polls_status(s: Settings) -> bool:
    from workers.backends import enabled_backends

    return any("polling" in cls.status_source for cls in enabled_backends(s).values())


@click.command("import-mbox")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--mailbox", "account", default=None, help="The account to file the mail under (default: first mailbox).")
@click.pass_context
def import_mbox(ctx: click.Context, path: Path, account: str | None) -> None:
    """Feed an mbox file or a Maildir through the pipeline. Running it twice creates nothing new."""
    from gateway.mail.commands import archive_size, import_archive

    s = settings(ctx)
    account = account or next(iter(s.channels.email.mailboxes), "import")
    total = archive_size(path)
    with click.progressbar(length=total, label=f"importing {total} messages", file=sys.stderr) as bar:
        counts = asyncio.run(import_archive(s, path, account, bar.update))
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))


@click.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Everything in one process group: embedded Redis (unless REDIS_URL or REDIS_SENTINELS), the web process, a
    worker, and the mail poller and status sync when something needs them."""
    from gateway.store.embedded_redis import EmbeddedRedis, embedded

    s = checked(ctx)
    setup_logging(s.logging.level)
    own = EmbeddedRedis(s) if embedded(s) else None
    if own:
        try:
            own.start()
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(2)
    base = [sys.executable, "-m", "gateway.cli"] + (["--config", ctx.obj["config"]] if ctx.obj["config"] else [])
    roles = ["serve", "worker"] + (["mail"] if s.channels.email.enabled else []) + (["sync"] if polls_status(s) else [])
    children = [subprocess.Popen([*base, role]) for role in roles]  # noqa: S603
    click.echo(f"Intake Gateway on http://{s.server.host}:{s.server.port}/form  (Ctrl-C stops everything)")
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(15)
            except subprocess.TimeoutExpired:
                c.kill()
        if own:
            own.stop()
    failed = [c.args for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        click.echo("a gateway process stopped unexpectedly; everything was shut down", err=True)
        ctx.exit(1)
