"""The operators' commands for rules, calendars and staff: `intake rules`, `intake calendar`, `intake staff`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import redis

from gateway import keys
from gateway.calendars import closures as closure_store
from gateway.clock import Clock, SystemClock
from gateway.errors import ConfigError
from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Route
from gateway.routing.engine import Decision
from gateway.routing.router import Router
from gateway.routing.sla import reschedule
from gateway.settings import Settings, load_settings
from gateway.store.redis_conn import sync_client, text

CLOCK: Clock = SystemClock()


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj["config"])
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"config error: {problem}", err=True)
        ctx.exit(2)
        raise


def _router(ctx: click.Context, s: Settings) -> Router:
    try:
        return Router(s)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"rules error: {problem}", err=True)
        ctx.exit(2)
        raise


def _redis(s: Settings) -> redis.Redis:
    r = sync_client(s)
    r.ping()
    return r


@click.group()
def rules() -> None:
    """Try the routing rules (config/rules.yaml) before deploying them."""


def _message(file: Path | None, opts: dict[str, Any], at: datetime) -> InboundMessage:
    data: dict[str, Any] = json.loads(file.read_text()) if file else {}
    if not isinstance(data, dict):
        raise click.BadParameter("expected a JSON object (an InboundMessage, or its channel/sender/text)")
    data.setdefault("id", new_id())
    data.setdefault("account", opts["account"] or "test")
    data.setdefault("received_at", at.isoformat())
    for key in ("channel", "text", "subject", "language"):
        if opts[key] is not None:
            data[key] = opts[key]
    if opts["sender"] is not None:
        data["sender"] = opts["sender"]
    data.setdefault("channel", "webform")
    data.setdefault("sender", "")
    data.setdefault("text", "")
    requester = dict(data.get("requester") or {})
    for key in ("role", "campus"):
        if opts[key] is not None:
            requester[key] = opts[key]
    data["requester"] = requester
    try:
        return InboundMessage.model_validate(data)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _explain(decision: Decision) -> dict[str, Any]:
    return {
        "matches": [{"rule": m.rule_id, "line": m.line, "reasons": list(m.reasons)} for m in decision.matches],
        "route": decision.route.model_dump(mode="json", exclude={"assignee", "first_response_due", "resolution_due"}),
    }


def _print_decision(decision: Decision) -> None:
    if not decision.matches:
        click.echo("no rule matched: the default route")
    for n, m in enumerate(decision.matches, start=1):
        click.echo(f"{n}. {m.rule_id} (line {m.line}): " + "; ".join(m.reasons))
    click.echo("route:")
    for key, value in _explain(decision)["route"].items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"  {key}: {shown if shown not in (None, '') else '-'}")


def _closures(s: Settings) -> tuple[frozenset[date], str]:
    try:
        return frozenset(closure_store.closures(_redis(s))), ""
    except (redis.RedisError, OSError):
        return frozenset(), "Redis is not reachable: ad-hoc closures are not known"


@rules.command("test")
@click.argument("message_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text", "text_", default=None, help="The message text.")
@click.option("--subject", default=None)
@click.option("--channel", default=None, help="sms, email, webform, slack, ...")
@click.option("--from", "sender", default=None, help="The sender's address or number.")
@click.option("--account", default=None, help="The receiving account (number, mailbox, workspace, form).")
@click.option("--language", default=None)
@click.option("--role", default=None, help="The requester's role from the directory.")
@click.option("--school", "campus", default=None, help="The requester's school from the directory.")
@click.option("--at", "at", default=None, help="When it arrives (ISO 8601; default now).")
@click.option("--replay", type=int, default=None, help="Run the rules over the last N routed requests instead.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_test(ctx: click.Context, /, message_file: Path | None, text_: str | None, **opts: Any) -> None:
    """Show which rules match a message, in order, why, and the route that results."""
    s = _settings(ctx)
    router = _router(ctx, s)
    as_json, replay = opts.pop("as_json"), opts.pop("replay")
    if replay is not None:
        _replay(s, router, replay, as_json)
        return
    if message_file is None and text_ is None:
        raise click.UsageError("give a MESSAGE.json, or --text (with --channel, --from, ...), or --replay N")
    at = datetime.fromisoformat(opts.pop("at")) if opts.get("at") else CLOCK.now()
    if at.tzinfo is None:
        at = at.replace(tzinfo=s.zone)
    message = _message(message_file, {**opts, "text": text_}, at)
    router.closures, note = _closures(s)
    decision = router.decide(message)
    if as_json:
        click.echo(json.dumps({"rules_file": str(router.path), **_explain(decision)}, indent=2, ensure_ascii=False))
        return
    click.echo(f"rules: {router.path} ({len(router.rules.rules)} rules)")
    if note:
        click.echo(f"note: {note}")
    _print_decision(decision)


def _summary(route: Route) -> dict[str, Any]:
    return route.model_dump(mode="json", exclude={"assignee", "first_response_due", "resolution_due", "incident_id"})


def _stored_requests(r: redis.Redis, s: Settings, n: int) -> list[Commitment]:
    """The newest `n` requests: those still waiting on a deliver queue, then those delivered (kept by the worker).

    A finished rq job is deleted after a few minutes and a request record holds no message, so the
    worker keeps a copy of what it routed (`routing.replay_keep`); waiting jobs still hold theirs.
    """
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from gateway.routing.router import known_backends
    from gateway.store.commit import deliver_queue_name

    out: list[Commitment] = []
    seen: set[str] = set()
    for backend in sorted(known_backends(s)):
        waiting = r.lrange(f"rq:queue:{deliver_queue_name(backend)}", 0, -1)
        for job in Job.fetch_many([text(j) for j in reversed(waiting)], connection=r, serializer=JSONSerializer):
            if job is not None and job.args:
                out.append(Commitment.model_validate(job.args[0]))
    delivered = r.lrange(keys.ROUTED_RECENT, 0, max(n, 1) - 1)
    out.extend(Commitment.model_validate_json(text(raw)) for raw in delivered)
    unique = []
    for c in out:
        if c.message.id not in seen:
            seen.add(c.message.id)
            unique.append(c)
    return unique[: max(n, 0)]


def _replay(s: Settings, router: Router, n: int, as_json: bool) -> None:
    try:
        r = _redis(s)
    except (redis.RedisError, OSError):
        raise click.ClickException("Redis is not reachable: the stored requests are there") from None
    router.closures = frozenset(closure_store.closures(r))
    changes = []
    stored = _stored_requests(r, s, n)
    for old in stored:
        before, after = _summary(old.route), _summary(router.decide(old.message).route)
        diff = {k: {"was": before[k], "now": after[k]} for k in before if before[k] != after[k]}
        if diff:
            m = old.message
            changes.append({"request_id": m.id, "channel": m.channel, "received_at": m.received_at.isoformat(), **diff})
    if as_json:
        click.echo(json.dumps({"replayed": len(stored), "changed": changes}, indent=2))
        return
    click.echo(f"{len(stored)} request(s) replayed through {router.path}: {len(changes)} would change")
    for c in changes:
        click.echo(f"  {c['request_id']} ({c['channel']}, {c['received_at']})")
        for key, value in c.items():
            if isinstance(value, dict):
                click.echo(f"    {key}: {value['was']} -> {value['now']}")


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
    s = _settings(ctx)
    day = _day(s, today, on)
    r = _redis(s)
    closure_store.close(r, day, reason)
    click.echo(f"closed {day.isoformat()}: {reason}")
    _move_clocks(ctx, s, r)


@calendar.command("open")
@click.option("--today", is_flag=True)
@click.option("--date", "on", default=None, help="A date, YYYY-MM-DD.")
@click.pass_context
def calendar_open(ctx: click.Context, today: bool, on: str | None) -> None:
    """Remove an ad-hoc closure."""
    s = _settings(ctx)
    day = _day(s, today, on)
    r = _redis(s)
    if closure_store.reopen(r, day):
        click.echo(f"{day.isoformat()} is open again")
        _move_clocks(ctx, s, r)
    else:
        click.echo(f"{day.isoformat()} was not closed")


def _move_clocks(ctx: click.Context, s: Settings, r: redis.Redis) -> None:
    """Open tickets' clocks pause on the new closure (or run again when it is lifted), on the ticket too."""
    from workers.backends.builtin import BuiltinBackend

    moved = reschedule(r, _router(ctx, s).rules, set(closure_store.closures(r)))
    store: BuiltinBackend | None = None
    for m in moved:
        conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(m.conversation)).items()}
        if conv.get("backend") == "builtin" and conv.get("ticket_ref"):
            store = store or BuiltinBackend.from_settings(s)
            store.set_due(conv["ticket_ref"], m.kind, m.due)
    click.echo(f"{len(moved)} open response clock(s) moved")


@calendar.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def calendar_list(ctx: click.Context, as_json: bool) -> None:
    """Ad-hoc closures, and the holidays of each calendar from today on."""
    s = _settings(ctx)
    router = _router(ctx, s)
    today = CLOCK.now().astimezone(s.zone).date()
    closed = {d.isoformat(): reason for d, reason in closure_store.closures(_redis(s)).items()}
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


@click.group()
def staff() -> None:
    """People in assignee groups: mark someone away so balancing skips them."""


@staff.command("away")
@click.argument("name")
@click.pass_context
def staff_away(ctx: click.Context, name: str) -> None:
    """Skip NAME when assigning new tickets, until `intake staff back NAME`."""
    _redis(_settings(ctx)).sadd(keys.ASSIGN_AWAY, name)
    click.echo(f"{name} is away: new tickets go to the others")


@staff.command("back")
@click.argument("name")
@click.pass_context
def staff_back(ctx: click.Context, name: str) -> None:
    """NAME takes new tickets again."""
    _redis(_settings(ctx)).srem(keys.ASSIGN_AWAY, name)
    click.echo(f"{name} is back")


@staff.command("list")
@click.pass_context
def staff_list(ctx: click.Context) -> None:
    """Each group's members, who is away, and their open tickets."""
    s = _settings(ctx)
    router = _router(ctx, s)
    r = _redis(s)
    away = {text(x) for x in r.smembers(keys.ASSIGN_AWAY)}
    for group in router.rules.groups.values():
        open_counts = {text(k): int(text(v)) for k, v in r.hgetall(keys.assign_open(group.name)).items()}
        click.echo(f"{group.name} ({group.balance}):")
        for member in group.members:
            mark = "  away" if member in away else ""
            click.echo(f"  {member:<24} open {open_counts.get(member, 0)}{mark}")
