"""`intake calendar ...`: ad-hoc closures (snow days), which move open tickets' response clocks, and holidays."""

from __future__ import annotations

import json
from datetime import date

import click
import redis

from gateway import keys
from gateway.calendars import closures as closure_store
from gateway.cli.common import CLOCK, load_router, reachable_redis, settings
from gateway.routing.sla import reschedule
from gateway.settings import Settings
from gateway.store.redis_conn import text


@click.group()
def calendar() -> None:
    """Ad-hoc closures (snow days) and the calendars' holidays."""


def _day(s: Settings, today: bool, on: str | None) -> date:
    if today == bool(on):
        raise click.UsageError("give exactly one of --today or --date YYYY-MM-DD")
    if today:
        return CLOCK.now().astimezone(s.zone).date()
    try:
        return date.fromisoformat(str(on))
    except ValueError:
        raise click.BadParameter(f"{on!r} is not a date like 2027-01-12", param_hint="--date") from None


@calendar.command("close")
@click.option("--today", is_flag=True, help="Today, in the district's time zone.")
@click.option("--date", "on", default=None, help="A date, YYYY-MM-DD.")
@click.option("--reason", required=True, help='Said to operators, e.g. "Snow day".')
@click.pass_context
def calendar_close(ctx: click.Context, today: bool, on: str | None, reason: str) -> None:
    """Close the district for a day: clocks pause, rules with during_closure apply. Every process sees it."""
    s = settings(ctx)
    day = _day(s, today, on)
    r = reachable_redis(s)
    closure_store.close(r, day, reason)
    click.echo(f"closed {day.isoformat()}: {reason}")
    _move_clocks(ctx, s, r)


@calendar.command("open")
@click.option("--today", is_flag=True)
@click.option("--date", "on", default=None, help="A date, YYYY-MM-DD.")
@click.pass_context
def calendar_open(ctx: click.Context, today: bool, on: str | None) -> None:
    """Remove an ad-hoc closure."""
    s = settings(ctx)
    day = _day(s, today, on)
    r = reachable_redis(s)
    if closure_store.reopen(r, day):
        click.echo(f"{day.isoformat()} is open again")
        _move_clocks(ctx, s, r)
    else:
        click.echo(f"{day.isoformat()} was not closed")


def _move_clocks(ctx: click.Context, s: Settings, r: redis.Redis) -> None:
    """Open tickets' clocks pause on the new closure (or run again when it is lifted), on the ticket too."""
    from workers.backends import get_backend
    from workers.backends.base import TicketBackend

    moved = reschedule(r, load_router(ctx, s).rules, set(closure_store.closures(r)))
    backends: dict[str, TicketBackend] = {}
    for m in moved:
        conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(m.conversation)).items()}
        name, ref = conv.get("backend") or s.backends.default, conv.get("ticket_ref")
        if ref:
            if name not in backends:
                backends[name] = get_backend(name, s)
            backends[name].set_due(ref, m.kind, m.due)
    click.echo(f"{len(moved)} open response clock(s) moved")


@calendar.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def calendar_list(ctx: click.Context, as_json: bool) -> None:
    """Ad-hoc closures, and the holidays of each calendar from today on."""
    s = settings(ctx)
    router = load_router(ctx, s)
    today = CLOCK.now().astimezone(s.zone).date()
    closed = {d.isoformat(): reason for d, reason in closure_store.closures(reachable_redis(s)).items()}
    holidays = {
        name: {d.isoformat(): why for d, why in sorted(cal.holidays.items()) if d >= today}
        for name, cal in router.rules.calendars.items()
    }
    if as_json:
        click.echo(json.dumps({"closures": closed, "holidays": holidays}, indent=2))
        return
    click.echo("closures:" if closed else "closures: none")
    for day, reason in closed.items():
        click.echo(f"  {day}  {reason}")
    for name, days in holidays.items():
        click.echo(f"calendar {name}: {len(days)} holiday(s) ahead")
        for day, why in days.items():
            click.echo(f"  {day}  {why}")
