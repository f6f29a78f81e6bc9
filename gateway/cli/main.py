"""The `intake` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from gateway.cli.incidents import incident
from gateway.cli.rules import calendar, rules, staff
from gateway.errors import ConfigError
from gateway.logs import setup_logging
from gateway.models import TicketStatus
from gateway.settings import Settings, load_settings

log = logging.getLogger("intake.cli")


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj["config"])
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"config error: {problem}", err=True)
        ctx.exit(2)
        raise  # unreachable; keeps mypy sure of the return type


@click.group()
@click.option("--config", "config", envvar="INTAKE_CONFIG", default=None, help="Path to gateway.yaml")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Intake Gateway: the single front door of a district's service desk."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


def _checked(ctx: click.Context) -> Settings:
    """Settings whose rules file is valid too: a process never starts on rules it cannot apply."""
    from gateway.routing.router import load_ruleset

    s = _settings(ctx)
    try:
        load_ruleset(s)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"rules error: {problem}", err=True)
        ctx.exit(2)
    return s


@main.command("check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the configuration and the rules; print every problem with file, line or key, and what is wrong."""
    from gateway.directory.identity import csv_problems

    s = _checked(ctx)
    problems = csv_problems(s.identity, source_file=s.source_file) if s.identity.csv else []
    for problem in problems:
        click.echo(f"config error: {problem}", err=True)
    if problems:
        ctx.exit(2)
    click.echo(f"{s.source_file}: ok")
    click.echo(f"{s.routing.rules_path(s.source_file)}: ok")


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the web process (webhooks, form, status pages, metrics)."""
    from aiohttp import web

    from gateway.server.app import create_app
    from gateway.server.eventloop import new_event_loop, settle_heap

    s = _checked(ctx)
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


@main.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run an rq worker on the gateway's queues (deliver, events, replies)."""
    from gateway.store.redis_conn import sync_client
    from workers import context
    from workers.runner import run_worker

    s = _checked(ctx)
    setup_logging(s.logging.level)
    context.configure(s)
    run_worker(sync_client(s), s, burst=burst)


@main.command()
@click.pass_context
def mail(ctx: click.Context) -> None:
    """Run the IMAP poller for the configured mailboxes (one poller per mailbox across instances)."""
    from gateway.mail.commands import run_mail

    s = _checked(ctx)
    setup_logging(s.logging.level)
    if not s.channels.email.enabled:
        click.echo("no mailboxes are configured (channels.email.mailboxes): nothing to poll", err=True)
        ctx.exit(1)
    asyncio.run(run_mail(s))


@main.command("import-mbox")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--mailbox", "account", default=None, help="The account to file the mail under (default: first mailbox).")
@click.pass_context
def import_mbox(ctx: click.Context, path: Path, account: str | None) -> None:
    """Feed an mbox file or a Maildir through the pipeline. Running it twice creates nothing new."""
    from gateway.mail.commands import archive_size, import_archive

    s = _settings(ctx)
    setup_logging("WARNING")
    account = account or next(iter(s.channels.email.mailboxes), "import")
    total = archive_size(path)
    with click.progressbar(length=total, label=f"importing {total} messages", file=sys.stderr) as bar:
        counts = asyncio.run(import_archive(s, path, account, bar.update))
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))


@main.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Everything in one process group: embedded Redis (unless REDIS_URL), the web process and a worker."""
    from gateway.store.embedded_redis import EmbeddedRedis

    s = _checked(ctx)
    setup_logging(s.logging.level)
    embedded = None if s.redis.url else EmbeddedRedis(s)
    if embedded:
        try:
            embedded.start()
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(2)
    base = [sys.executable, "-m", "gateway.cli"] + (["--config", ctx.obj["config"]] if ctx.obj["config"] else [])
    roles = ["serve", "worker"] + (["mail"] if s.channels.email.enabled else [])
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
        if embedded:
            embedded.stop()
    failed = [c.args for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        click.echo("a gateway process stopped unexpectedly; everything was shut down", err=True)
        ctx.exit(1)


@main.group()
def tickets() -> None:
    """The built-in ticket store."""


def _builtin(ctx: click.Context) -> Any:
    from workers.backends.builtin import BuiltinBackend

    return BuiltinBackend.from_settings(_settings(ctx))


@tickets.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", default=None)
@click.pass_context
def tickets_list(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List tickets, newest first."""
    rows = _builtin(ctx).list(status=status)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
        return
    if not rows:
        click.echo("no tickets")
    for t in rows:
        click.echo(f"#{t.id:<6} {t.status:<12} {t.channel:<8} {t.queue:<16} {t.subject[:60]}")


@tickets.command("show")
@click.argument("ticket_id")
@click.pass_context
def tickets_show(ctx: click.Context, ticket_id: str) -> None:
    """Show one ticket with its comments, attachments and history."""
    from workers.backends.builtin import UnknownTicket

    try:
        d = _builtin(ctx).details(ticket_id.lstrip("#"))
    except UnknownTicket:
        raise click.ClickException(f"no ticket {ticket_id}") from None
    t = d["ticket"]
    click.echo(f"#{t['id']} [{t['status']}] {t['subject']}")
    click.echo(
        f"from: {t['requester_name'] or '-'} via {t['channel']}  school: {t['school'] or '-'}  lang: {t['language']}"
    )
    if t["requester_directory_id"]:
        click.echo(f"requester: {t['requester_role']} (directory {t['requester_directory_id']})")
    click.echo(f"queue: {t['queue']}  priority: {t['priority']}  created: {t['created_at']}")
    if t["assignee"] or t["first_response_due"]:
        due = f"  first response due: {t['first_response_due'] or '-'}  resolution due: {t['resolution_due'] or '-'}"
        click.echo(f"assignee: {t['assignee'] or '-'}{due}")
    if t["rule_ids"]:
        click.echo(f"rules: {t['rule_ids']}  tags: {t['tags'] or '-'}")
    click.echo("")
    click.echo(t["body"])
    for a in d["attachments"]:
        kept = "" if a["kept"] else f"  NOT KEPT: {a['reason']}"
        click.echo(f"  attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes){kept}")
    for c in d["comments"]:
        click.echo(f"\n--- {c['author']} at {c['created_at']}\n{c['body']}")
    click.echo("\nhistory:")
    for h in d["history"]:
        click.echo(f"  {h['at']}  {h['status']:<12} by {h['actor']}" + (f": {h['comment']}" if h["comment"] else ""))


@tickets.command("update")
@click.argument("ticket_id")
@click.option("--status", "status", required=True, type=click.Choice([s.value for s in TicketStatus]))
@click.option("--comment", default=None, help="A public comment the requester will see.")
@click.option("--actor", default=lambda: os.environ.get("USER", "staff"))
@click.pass_context
def tickets_update(ctx: click.Context, ticket_id: str, status: str, comment: str | None, actor: str) -> None:
    """Change a ticket's status; the requester is told on their own channel."""
    from workers import context
    from workers.backends.builtin import UnknownTicket
    from workers.jobs import publish_status_event

    s = _settings(ctx)
    context.configure(s)
    try:
        event = _builtin(ctx).update_status(ticket_id.lstrip("#"), TicketStatus(status), comment, actor)
    except UnknownTicket:
        raise click.ClickException(f"no ticket {ticket_id}") from None
    publish_status_event(event)
    click.echo(f"#{event.ticket_ref} is now {event.status.value}; the requester will be told")


@main.command()
@click.pass_context
def replay(ctx: click.Context) -> None:
    """Put every dead-lettered job back on its queue."""
    from gateway.store.redis_conn import sync_client
    from workers.runner import replay as replay_jobs

    s = _settings(ctx)
    count = replay_jobs(sync_client(s), s)
    click.echo(f"replayed {count} job(s)")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check Redis durability, the spool, the dead-letter list and the directory."""
    from gateway.cli.doctor import diagnose

    s = _settings(ctx)
    report = diagnose(s)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for check in report["checks"]:
            mark = "ok  " if check["ok"] else "FAIL"
            click.echo(f"[{mark}] {check['name']}: {check['detail']}")
    ctx.exit(0 if report["ok"] else 1)


main.add_command(rules)
main.add_command(calendar)
main.add_command(staff)
main.add_command(incident)

if __name__ == "__main__":
    main()
