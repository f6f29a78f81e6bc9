"""What every `intake` command shares: loading settings (and the rules) with errors an operator can act on."""

from __future__ import annotations

import click
import redis

from gateway.clock import Clock, SystemClock
from gateway.errors import ConfigError
from gateway.routing.router import Router, load_ruleset
from gateway.settings import Settings, load_settings
from gateway.store.redis_conn import sync_client

# Commands ask this clock for "now": a test gives the commands a fixed one instead of patching time.
CLOCK: Clock = SystemClock()


def fail_on_config(ctx: click.Context, exc: ConfigError, label: str = "config error") -> None:
    for problem in exc.problems:
        click.echo(f"{label}: {problem}", err=True)
    ctx.exit(2)


def settings(ctx: click.Context) -> Settings:
    """The settings from --config / INTAKE_CONFIG; exit 2 naming file, key and fix when they are wrong."""
    try:
        return load_settings(ctx.obj["config"])
    except ConfigError as exc:
        fail_on_config(ctx, exc)
        raise  # unreachable; keeps mypy sure of the return type


def checked(ctx: click.Context) -> Settings:
    """Settings whose plug-in sections and rules file are valid too: a process never starts on what it cannot apply."""
    from channels import section_problems as channel_problems
    from workers.backends import section_problems as backend_problems

    s = settings(ctx)
    problems = channel_problems(s) + backend_problems(s)
    if problems:
        fail_on_config(ctx, ConfigError(problems))
    try:
        load_ruleset(s)
    except ConfigError as exc:
        fail_on_config(ctx, exc, "rules error")
    return s


def started(ctx: click.Context) -> Settings:
    """Settings for a long-running process (web, worker, mail, sync): `checked`, and the Redis servers and sentinels
    accept its password and TLS settings. A refusal is a mistake to fix, not an outage to wait out: exit 2 naming
    the setting."""
    from gateway.store.redis_access import access_problems

    s = checked(ctx)
    problems = access_problems(s)
    if problems:
        fail_on_config(ctx, ConfigError([f"{s.source_file}: {problem}" for problem in problems]))
    return s


def load_router(ctx: click.Context, s: Settings) -> Router:
    try:
        return Router(s)
    except ConfigError as exc:
        fail_on_config(ctx, exc, "rules error")
        raise


def reachable_redis(s: Settings) -> redis.Redis:
    r = sync_client(s)
    r.ping()
    return r
