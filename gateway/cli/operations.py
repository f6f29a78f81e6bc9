"""The operator's checks: `intake check-config`, `doctor` and `replay`."""

from __future__ import annotations

import json

import click

from gateway.cli.common import checked, settings


@click.command("check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the configuration and the rules, and reach each ticket system; name every problem and its fix."""
    from gateway.directory.identity import csv_problems
    from workers.backends import enabled_backends

    s = checked(ctx)
    problems = csv_problems(s.identity, source_file=s.source_file) if s.identity.csv else []
    # Each enabled ticket system is reached: its credentials, and that every queue the map names exists.
    reached = {name: cls.from_settings(s).check() for name, cls in enabled_backends(s).items()}
    problems += [f"backend {name}: {problem}" for name, found in reached.items() for problem in found]
    for problem in problems:
        click.echo(f"config error: {problem}", err=True)
    if problems:
        ctx.exit(2)
    click.echo(f"{s.source_file}: ok")
    click.echo(f"{s.routing.rules_path(s.source_file)}: ok")
    for name in reached:
        click.echo(f"backend {name}: ok")


@click.command()
@click.pass_context
def replay(ctx: click.Context) -> None:
    """Put every dead-lettered job back on its queue, and every parked reply this configuration can send."""
    from gateway.cli.doctor import describe_parking
    from gateway.logs import mask
    from gateway.store.redis_conn import sync_client
    from workers import context
    from workers.parked import release_parked
    from workers.runner import replay as replay_jobs

    s = settings(ctx)
    client = sync_client(s)
    replayed = replay_jobs(client, s)
    click.echo(f"replayed {len(replayed)} job(s)")
    for queue, job_id, reason in replayed:
        click.echo(f"  {queue} {job_id}: had failed with {mask(reason)}")
    context.configure(s)
    parking = release_parked(client, context.channels(), context.services())
    for channel, detail in describe_parking(parking, "queued again").items():
        click.echo(f"{channel} outbound: {detail}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check Redis durability, the spool, the dead-letter list, the directory and each ticket system."""
    from gateway.cli.doctor import diagnose

    s = settings(ctx)
    report = diagnose(s)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for check in report["checks"]:
            mark = "ok  " if check["ok"] else "FAIL"
            click.echo(f"[{mark}] {check['name']}: {check['detail']}")
    ctx.exit(0 if report["ok"] else 1)
