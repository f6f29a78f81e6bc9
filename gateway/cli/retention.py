"""`intake purge`: a family's records request (`--requester`), or what has outlived `retention.days` (`--expired`)."""

from __future__ import annotations

import json

import click

from gateway.cli.common import reachable_redis, settings


@click.command()
@click.option("--requester", "requesters", multiple=True, help="An email address or phone number (repeatable).")
@click.option("--expired", is_flag=True, help="Forget what has been idle longer than retention.days.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def purge(ctx: click.Context, requesters: tuple[str, ...], expired: bool, as_json: bool) -> None:
    """Forget a family everywhere the gateway keeps them, or everything past its retention time."""
    from workers.retention import purge_requester, sweep
    from workers.runner import queue_names

    if bool(requesters) == expired:
        raise click.UsageError("give --requester ADDRESS (one or more), or --expired")
    s = settings(ctx)
    r = reachable_redis(s)
    if expired:
        done = sweep(r, s)
    else:
        addresses = []
        for raw in requesters:
            phone = s.identity.phones.e164(raw) if "@" not in raw else None
            if "@" not in raw and phone is None:
                raise click.BadParameter(
                    f"{raw!r} is neither an email address nor a phone number", param_hint="--requester"
                )
            addresses.append(phone or raw.strip())
        done = purge_requester(r, s, addresses, queue_names(s))
    if as_json:
        click.echo(json.dumps(done.summary()))
        return
    click.echo(", ".join(f"{n} {what}" for what, n in done.summary().items()))
