"""`intake audit list`: who did what to which ticket, sign-ins and account changes, newest first."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, time
from typing import Any

import click

from gateway.cli.common import settings
from gateway.tickets import AuditEntry, TicketStore, UnknownTicket

COLUMNS = ("id", "at", "actor", "action", "ticket", "details")


@click.group()
def audit() -> None:
    """The audit log of the built-in store."""


def _since(value: str | None, zone: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date (2027-01-31) or a date and time, got {value!r}") from None
    if len(value) <= 10:
        parsed = datetime.combine(parsed.date(), time(0))
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _fields(e: AuditEntry, zone: Any) -> list[str]:
    details = json.dumps(e.details, ensure_ascii=False, sort_keys=True, default=str) if e.details else ""
    at = e.at.astimezone(zone).isoformat(timespec="seconds")
    return [str(e.id), at, e.actor, e.action, "" if e.ticket_id is None else str(e.ticket_id), details]


@audit.command("list")
@click.option("--ticket", default=None, help="Only what was done to this ticket.")
@click.option("--actor", default=None, help="Only what this person (a username, or cli:<user>) did.")
@click.option("--action", default=None, help="Only this action (signin, signin_failed, user_add, reply...).")
@click.option("--since", default=None, help="A date or date-time (district time).")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Which page of entries.")
@click.option("--per-page", type=click.IntRange(1, 1000), default=50, show_default=True, help="Entries a page.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="--csv: at most this many (default: all); else as --per-page.",
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV, every entry the filters find, streamed.")
@click.pass_context
def audit_list(
    ctx: click.Context, ticket: str | None, actor: str | None, action: str | None, since: str | None,
    page: int, per_page: int, limit: int | None, as_csv: bool,
) -> None:  # fmt: skip
    """Entries newest first, a page at a time, times in the district's time zone."""
    import sqlalchemy as sa

    s = settings(ctx)
    zone = s.zone
    try:
        store = TicketStore.from_settings(s)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"the ticket store's database cannot be reached: {exc.orig}") from None
    try:
        filters: dict[str, Any] = {"ticket": ticket, "actor": actor, "action": action, "since": _since(since, zone)}
        if as_csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(COLUMNS)
            for e in store.audit.entries(**filters, limit=limit):
                writer.writerow(_fields(e, zone))
            return
        per_page = limit or per_page
        total = store.audit.count(**filters)
        first = (page - 1) * per_page
        shown = 0
        for e in store.audit.entries(**filters, limit=per_page, offset=first):
            shown += 1
            ident, at, who, what, tid, details = _fields(e, zone)
            click.echo(f"{ident:>6}  {at}  {who:<20} {what:<16} {('#' + tid) if tid else '-':<7} {details}")
        click.echo(_summary(first, shown, total, page))
    except UnknownTicket as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _summary(first: int, shown: int, total: int, page: int) -> str:
    if not shown:
        return f"no entries on page {page} (of {total} entries)" if total else "no entries"
    line = f"entries {first + 1}-{first + shown} of {total}"
    return line + (f"; next: --page {page + 1}" if first + shown < total else "")
