"""`intake staff ...`: mark people in assignee groups away, so balancing skips them."""

from __future__ import annotations

import click

from gateway import keys
from gateway.cli.common import load_router, reachable_redis, settings
from gateway.store.redis_conn import text


@click.group()
def staff() -> None:
    """People in assignee groups: mark someone away so balancing skips them."""


@staff.command("away")
@click.argument("name")
@click.pass_context
def staff_away(ctx: click.Context, name: str) -> None:
    """Skip NAME when assigning new tickets, until `intake staff back NAME`."""
    reachable_redis(settings(ctx)).sadd(keys.ASSIGN_AWAY, name)
    click.echo(f"{name} is away: new tickets go to the others")


@staff.command("back")
@click.argument("name")
@click.pass_context
def staff_back(ctx: click.Context, name: str) -> None:
    """NAME takes new tickets again."""
    reachable_redis(settings(ctx)).srem(keys.ASSIGN_AWAY, name)
    click.echo(f"{name} is back")


@staff.command("list")
@click.pass_context
def staff_list(ctx: click.Context) -> None:
    """Each group's members, who is away, and their open tickets."""
    s = settings(ctx)
    router = load_router(ctx, s)
    r = reachable_redis(s)
    away = {text(x) for x in r.smembers(keys.ASSIGN_AWAY)}
    for group in router.rules.groups.values():
        open_counts = {text(k): int(text(v)) for k, v in r.hgetall(keys.assign_open(group.name)).items()}
        click.echo(f"{group.name} ({group.balance}):")
        for member in group.members:
            mark = "  away" if member in away else ""
            click.echo(f"  {member:<24} open {open_counts.get(member, 0)}{mark}")
