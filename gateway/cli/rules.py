"""`intake rules test`: which rules match a message, why, and what new rules would change."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import redis

from gateway import keys
from gateway.calendars import closures as closure_store
from gateway.cli.common import CLOCK, load_router, reachable_redis, settings
from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Route
from gateway.routing.engine import Decision
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.store.redis_conn import text


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
        return frozenset(closure_store.closures(reachable_redis(s))), ""
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
    s = settings(ctx)
    router = load_router(ctx, s)
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

    from gateway.store.queues import deliver_queue_name
    from workers.backends import BACKENDS

    out: list[Commitment] = []
    seen: set[str] = set()
    for backend in sorted(BACKENDS):
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
        r = reachable_redis(s)
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
