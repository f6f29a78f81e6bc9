"""`intake incident ...`: open, list, show, update, close, and confirm or dismiss a surge's proposal."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from gateway.cli.common import settings
from gateway.incidents.match import BadCriteria, MatchCriteria, build_criteria, parse_until
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import TicketStatus, utcnow
from gateway.settings import Settings


def _setup(ctx: click.Context) -> Settings:
    from workers import context

    s = settings(ctx)
    context.configure(s)
    return s


def _criteria(s: Settings, match: str | None, keyword: tuple[str, ...], category: tuple[str, ...],
              school: tuple[str, ...], channel: tuple[str, ...], until: str | None) -> MatchCriteria:  # fmt: skip
    try:
        until_at = parse_until(until, utcnow(), s.zone) if until else None
        return build_criteria(pattern=match, keywords=keyword, categories=category, schools=school,
                              channels=channel, until=until_at)  # fmt: skip
    except BadCriteria as exc:
        raise click.UsageError(str(exc)) from None


def _store() -> IncidentStore:
    from workers import context

    return IncidentStore(context.connection())


def _describe_criteria(inc: Incident, s: Settings) -> str:
    c = inc.criteria
    parts = []
    if c.pattern:
        parts.append(f"text ~ /{c.pattern}/")
    if c.keywords:
        parts.append("keywords " + ", ".join(c.keywords))
    if c.categories:
        parts.append("category " + ", ".join(c.categories))
    if c.schools:
        parts.append("school " + ", ".join(c.schools))
    if c.channels:
        parts.append("channel " + ", ".join(c.channels))
    if c.until:
        parts.append("until " + c.until.astimezone(s.zone).strftime("%Y-%m-%d %H:%M %Z"))
    return "; ".join(parts)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


class RegisteredChannel(click.ParamType[str]):
    """A channel of the registry, plug-ins included: read when the option is given, so other commands skip it."""

    name = "channel"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from channels import CHANNELS

        if value not in CHANNELS:
            self.fail(f"{value!r} is no channel (known: {', '.join(sorted(CHANNELS))})", param, ctx)
        return str(value)


_what = [
    click.option("--match", default=None, help="A regular expression over subject and text (case, accents ignored)."),
    click.option("--keyword", multiple=True, help="A word that links a request (repeatable)."),
    click.option("--category", multiple=True, help="A request category that links a request (repeatable)."),
    click.option("--school", multiple=True, help="Only requests from this school (repeatable)."),
    click.option("--channel", multiple=True, type=RegisteredChannel(), help="Only these channels (repeatable)."),
    click.option("--until", default=None, help="HH:MM today (district time zone) or an ISO date-time."),
]


def _with_criteria(f: Any) -> Any:
    for option in reversed(_what):
        f = option(f)
    return f


@click.group()
def incident() -> None:
    """Incidents: one outage, one parent ticket, every affected requester told once per update."""


@incident.command("open")
@click.option("--title", required=True, help="What is wrong, as requesters will read it.")
@_with_criteria
@click.pass_context
def incident_open(ctx: click.Context, /, title: str, **what: Any) -> None:
    """Open an incident; matching new requests are linked to its parent ticket and told its status."""
    from workers.incident_jobs import open_incident

    s = _setup(ctx)
    criteria = _criteria(s, **what)
    inc = open_incident(title, criteria)
    click.echo(f"incident {inc.id} open (parent ticket #{inc.parent_ref}): {_describe_criteria(inc, s)}")


@incident.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_list(ctx: click.Context, as_json: bool) -> None:
    """List incidents and proposals, newest first."""
    s = _setup(ctx)
    rows: list[Incident] = list(reversed(_store().all()))
    if as_json:
        click.echo(json.dumps([i.model_dump(mode="json") for i in rows], indent=2))
        return
    if not rows:
        click.echo("no incidents")
    for i in rows:
        parent = f"#{i.parent_ref}" if i.parent_ref else "-"
        click.echo(f"{i.id:<5} {i.state:<9} {i.status.value:<12} {parent:<7} {i.children:>6} linked  {i.title[:60]}")
        if i.state == "proposed":
            click.echo(f"      proposed: {_describe_criteria(i, s)}  (intake incident confirm {i.id} | dismiss {i.id})")


@incident.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_show(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """One incident: criteria, parent ticket, linked requests, and each update's fan-out progress."""
    from workers.incident_jobs import resume_fanouts
    from workers.incident_repair import check_replies

    s = _setup(ctx)
    resume_fanouts()
    store = _store()
    inc = store.get(incident_id)
    if inc is None:
        raise click.ClickException(f"no incident {incident_id}")
    updates = [(u, *store.fanout_progress(inc.id, u.seq), check_replies(store, inc.id, u.seq))
               for u in store.updates(inc.id)]  # fmt: skip
    if as_json:
        body = inc.model_dump(mode="json")
        body["opened_at"], body["updated_at"] = (_local(t.isoformat(), s) for t in (inc.opened_at, inc.updated_at))
        body["updates"] = [
            {
                **asdict(u),
                "at": _local(u.at, s),
                "fanned_out": done,
                "replies_sent": p.told,
                "replies_owed": p.owed,
                "requeued": p.requeued,
            }
            for u, done, _, p in updates
        ]
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"incident {inc.id} [{inc.state}, {inc.status.value}] {inc.title}")
    click.echo(f"parent ticket: {('#' + inc.parent_ref) if inc.parent_ref else '-'}  backend: {inc.backend}")
    click.echo(f"matches: {_describe_criteria(inc, s)}")
    click.echo(f"opened: {inc.opened_at.astimezone(s.zone):%Y-%m-%d %H:%M} by {inc.origin}  linked: {inc.children}")
    for u, done, total, p in updates:
        said = f": {u.message}" if u.message else ""
        fixed = f", {p.requeued} lost reply job(s) queued again" if p.requeued else ""
        at = _local(u.at, s)
        click.echo(
            f"  update {u.seq}: {u.status} at {at}  fanned out {done}/{total}, sent {p.told}/{p.owed}{fixed}{said}"
        )


def _local(iso: str, s: Settings) -> str:
    """A stored UTC time (ISO 8601) in the district's time zone, to the second, with its offset."""
    return datetime.fromisoformat(iso).astimezone(s.zone).isoformat(timespec="seconds")


@incident.command("update")
@click.argument("incident_id")
@click.option("--status", required=True, type=click.Choice([s.value for s in TicketStatus if s != TicketStatus.NEW]))
@click.option("--message", default="", help="What every linked requester is told, with the status.")
@click.option("--actor", default=lambda: os.environ.get("USER", "staff"))
@click.pass_context
def incident_update(ctx: click.Context, incident_id: str, status: str, message: str, actor: str) -> None:
    """Tell every linked requester, once each, on their own channel and in their language."""
    from workers.incident_jobs import IncidentError, resume_fanouts, update_incident

    _setup(ctx)
    resume_fanouts()
    try:
        seq, total = update_incident(incident_id, TicketStatus(status), message, actor)
    except IncidentError as exc:
        raise _fail(exc) from None
    click.echo(f"incident {incident_id} update {seq} recorded ({status}); telling {total} linked requester(s)")


@incident.command("close")
@click.argument("incident_id")
@click.pass_context
def incident_close(ctx: click.Context, incident_id: str) -> None:
    """Stop linking new requests (nobody is messaged; use update --status resolved for that)."""
    from workers.incident_jobs import IncidentError, close_incident

    _setup(ctx)
    try:
        close_incident(incident_id)
    except IncidentError as exc:
        raise _fail(exc) from None
    click.echo(f"incident {incident_id} closed: new requests are no longer linked")


@incident.command("confirm")
@click.argument("incident_id")
@click.option("--title", default=None, help="A better title than the detector's.")
@_with_criteria
@click.pass_context
def incident_confirm(ctx: click.Context, /, incident_id: str, title: str | None, **what: Any) -> None:
    """Turn a surge's proposal into an open incident (optionally with your own criteria)."""
    from workers.incident_jobs import IncidentError, confirm_incident

    s = _setup(ctx)
    given = any(v for v in what.values())
    criteria = _criteria(s, **what) if given else None
    try:
        inc, linked = confirm_incident(incident_id, title, criteria)
    except IncidentError as exc:
        raise _fail(exc) from None
    click.echo(f"incident {inc.id} open (parent ticket #{inc.parent_ref}); {linked} request(s) linked and told")


@incident.command("dismiss")
@click.argument("incident_id")
@click.pass_context
def incident_dismiss(ctx: click.Context, incident_id: str) -> None:
    """Drop a surge's proposal: nothing is linked, nobody is messaged."""
    from workers.incident_jobs import IncidentError, dismiss_incident

    _setup(ctx)
    try:
        dismiss_incident(incident_id)
    except IncidentError as exc:
        raise _fail(exc) from None
    click.echo(f"incident {incident_id} dismissed")
