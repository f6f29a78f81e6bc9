"""`intake tickets ...`: the built-in ticket store from the command line."""

from __future__ import annotations

import json
import os
from datetime import datetime, time
from typing import Any

import click

from gateway.cli.common import settings
from gateway.models import Priority, TicketStatus


@click.group()
def tickets() -> None:
    """The built-in ticket store."""


def _store(ctx: click.Context) -> Any:
    import sqlalchemy as sa

    from gateway.tickets import TicketStore

    try:
        return TicketStore.from_settings(settings(ctx))
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"the ticket store's database cannot be reached: {exc.orig}") from None


def _when(ctx: click.Context, value: str | None, name: str) -> datetime | None:
    """A date (midnight in the district's time zone) or an ISO date-time (the district's time unless it says)."""
    if not value:
        return None
    zone = settings(ctx).zone
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"expected a date (2027-01-31) or a date and time, got {value!r}", param_hint=name
        ) from None
    if len(value) <= 10:
        parsed = datetime.combine(parsed.date(), time(0))
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


STATUS_CHOICES = [*(s.value for s in TicketStatus), "open", "done"]


@tickets.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the page's tickets, the total and the paging.")
@click.option("--csv", "as_csv", is_flag=True, help="Every ticket the filters find, as CSV, streamed (no paging).")
@click.option(
    "--status", multiple=True, type=click.Choice(STATUS_CHOICES), help="open: new..waiting; done: resolved or closed"
)
@click.option("--priority", multiple=True, type=click.Choice([p.value for p in Priority]))
@click.option("--assignee", multiple=True)
@click.option("--unassigned", is_flag=True, help="Nobody's (with --assignee: theirs or nobody's).")
@click.option("--channel", multiple=True)
@click.option("--school", multiple=True)
@click.option("--language", multiple=True)
@click.option("--queue", "--department", "queue", multiple=True, help="The department's queue.")
@click.option("--category", multiple=True)
@click.option("--requester", multiple=True, help="An email or phone number: that family's requests.")
@click.option("--due", type=click.Choice(["soon", "overdue", "soon_or_overdue"]), default=None)
@click.option(
    "--due-within",
    type=click.IntRange(min=1),
    default=None,
    help="Minutes that make 'soon' [default: dashboard.due_soon_minutes].",
)
@click.option("--created-from", default=None, help="A date or date-time (district time), inclusive.")
@click.option("--created-until", default=None, help="A date or date-time (district time), exclusive.")
@click.option("--search", "text", default="", help='Full text: words, "a phrase", word* (accents and case ignored).')
@click.option(
    "--sort", type=click.Choice(["newest", "oldest", "priority", "updated"]), default="newest", show_default=True
)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(1, 500), default=50, show_default=True)
@click.pass_context
def tickets_list(ctx: click.Context, /, as_json: bool, as_csv: bool, **f: Any) -> None:  # fmt: skip
    """List tickets, newest first, a page at a time; filters combine, each may be repeated."""
    from datetime import timedelta

    from gateway.tickets import TicketQuery

    minutes = f["due_within"]
    soon = settings(ctx).dashboard.due_soon if minutes is None else timedelta(minutes=minutes)
    query = TicketQuery(
        status=f["status"], priority=f["priority"], assignee=f["assignee"], unassigned=f["unassigned"],
        channel=f["channel"], school=f["school"], language=f["language"], queue=f["queue"], category=f["category"],
        requester=f["requester"], due=f["due"], due_within=soon,
        created_from=_when(ctx, f["created_from"], "--created-from"),
        created_until=_when(ctx, f["created_until"], "--created-until"), text=f["text"],
    )  # fmt: skip
    store, zone = _store(ctx), settings(ctx).zone
    if as_csv:
        for chunk in store.export_csv(query, sort=f["sort"], zone=zone):
            click.echo(chunk, nl=False)
        return
    page = store.page(query, sort=f["sort"], page=f["page"], per_page=f["per_page"])
    if as_json:
        # A search for words in too many tickets is not counted: "total" and "pages" are null, "more" says if another
        # page follows (gateway/tickets/reads.py).
        counted = page.total is not None
        click.echo(json.dumps({"tickets": [t.as_dict(zone) for t in page.items], "total": page.total, "page": page.page,
                               "per_page": page.per_page, "pages": page.pages if counted else None,
                               "more": page.has_next}, indent=2))  # fmt: skip
        return
    if page.total == 0:
        click.echo("no tickets")
        return
    for t in page.items:
        click.echo(f"#{t.id:<6} {t.status:<12} {t.priority:<7} {t.channel:<8} {t.queue:<16} {t.subject[:60]}")
    first = (page.page - 1) * page.per_page + 1
    shown = f"{first}-{first + len(page.items) - 1}" if page.items else "none"
    more = f"; next: --page {page.page + 1}" if page.has_next else ""
    if page.total is None:  # too many to count at every page: --csv writes them all
        click.echo(f"page {page.page}: {shown} of more than {first + len(page.items) - 1} ticket(s){more}")
    else:
        click.echo(f"page {page.page} of {page.pages}: {shown} of {page.total} ticket(s){more}")


@tickets.command("show")
@click.argument("ticket_id")
@click.pass_context
def tickets_show(ctx: click.Context, ticket_id: str) -> None:
    """Show one ticket with its comments, attachments and history."""
    from gateway.tickets import UnknownTicket

    try:
        d = _store(ctx).details(ticket_id)
    except UnknownTicket:
        raise click.ClickException(f"no ticket {ticket_id}") from None
    t, zone = d.ticket, settings(ctx).zone

    def at(when: datetime | None) -> str:
        return when.astimezone(zone).isoformat(timespec="seconds") if when else "-"

    click.echo(f"#{t.id} [{t.status}] {t.subject}")
    click.echo(f"from: {t.requester_name or '-'} via {t.channel}  school: {t.school or '-'}  lang: {t.language}")
    if t.requester_directory_id:
        click.echo(f"requester: {t.requester_role} (directory {t.requester_directory_id})")
    click.echo(f"queue: {t.queue}  priority: {t.priority}  created: {at(t.created_at)}")
    if t.merged_into:
        click.echo(f"merged into #{t.merged_into}")
    if t.assignee or t.first_response_due:
        first, resolution = at(t.first_response_due), at(t.resolution_due)
        click.echo(f"assignee: {t.assignee or '-'}  first response due: {first}  resolution due: {resolution}")
    if t.rule_ids:
        click.echo(f"rules: {' '.join(t.rule_ids)}  tags: {' '.join(t.tags) or '-'}")
    click.echo("")
    click.echo(t.body)
    for a in d.attachments:
        kept = "" if a.kept else f"  NOT KEPT: {a.reason}"
        click.echo(f"  attachment: {a.filename} ({a.content_type}, {a.size} bytes){kept}")
    for c in d.comments:
        note = "" if c.public else " (internal note)"
        click.echo(f"\n--- {c.author}{note} at {at(c.created_at)}\n{c.body}")
    for e in d.time_entries:
        click.echo(f"  time: {e.minutes} min {e.work_type} by {e.person} at {at(e.at)}")
    click.echo("\nhistory:")
    for h in d.history:
        click.echo(f"  {at(h.at)}  {h.status:<12} by {h.actor}" + (f": {h.comment}" if h.comment else ""))


@tickets.command("update")
@click.argument("ticket_id")
@click.option("--status", "status", required=True, type=click.Choice([s.value for s in TicketStatus]))
@click.option("--comment", default=None, help="A public comment the requester will see.")
@click.option("--actor", default=lambda: os.environ.get("USER", "staff"))
@click.pass_context
def tickets_update(ctx: click.Context, ticket_id: str, status: str, comment: str | None, actor: str) -> None:
    """Change a ticket's status; the requester is told on their own channel."""
    from gateway.tickets import UnknownTicket
    from workers import context
    from workers.backends.builtin import BuiltinBackend
    from workers.status_events import publish_status_event

    s = settings(ctx)
    context.configure(s)
    try:
        event = BuiltinBackend(_store(ctx)).update_status(ticket_id.lstrip("#"), TicketStatus(status), comment, actor)
    except UnknownTicket:
        raise click.ClickException(f"no ticket {ticket_id}") from None
    publish_status_event(event)
    click.echo(f"#{event.ticket_ref} is now {event.status.value}; the requester will be told")
