"""`intake tickets ...`: the built-in ticket store from the command line."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from gateway.cli.common import settings
from gateway.models import TicketStatus


@click.group()
def tickets() -> None:
    """The built-in ticket store."""


def _builtin(ctx: click.Context) -> Any:
    from workers.backends.builtin import BuiltinBackend

    return BuiltinBackend.from_settings(settings(ctx))


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
    from workers.status_events import publish_status_event

    s = settings(ctx)
    context.configure(s)
    try:
        event = _builtin(ctx).update_status(ticket_id.lstrip("#"), TicketStatus(status), comment, actor)
    except UnknownTicket:
        raise click.ClickException(f"no ticket {ticket_id}") from None
    publish_status_event(event)
    click.echo(f"#{event.ticket_ref} is now {event.status.value}; the requester will be told")
