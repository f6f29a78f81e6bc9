"""`intake tickets reply|note|assign|set|merge|link|log-time`: the desk's actions on the built-in store, for scripts.

Each is one call of workers/desk_actions' DeskService, the same the desk's pages make: the store's write with its
audit entry, and the family told on their own channel when a reply must reach them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli.common import fail_on_config, settings
from gateway.cli.tickets import _store

if TYPE_CHECKING:
    from workers.desk_actions import DeskService

ACTOR = click.option(
    "--actor", default=lambda: os.environ.get("USER", "staff"), help="Who does it, for the audit log ($USER)."
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a sentence.")


@contextmanager
def _desk(ctx: click.Context, *, redis_needed: bool = False) -> Iterator[DeskService]:
    """The desk's service on this configuration; the store's and the service's refusals as an operator reads them."""
    import redis

    from gateway.errors import ConfigError
    from gateway.store.redis_conn import sync_client
    from gateway.tickets import MergeRefused, UnknownTicket
    from workers.desk_actions import DeskService, UnknownIncident

    s = settings(ctx)
    connection = sync_client(s)
    store = _store(ctx)
    try:
        if redis_needed:
            # Checked before the store is written: a reply stored but never told is what this must not leave.
            connection.ping()
        yield DeskService(store, s, connection)
    except UnknownTicket as exc:
        raise click.ClickException(str(exc)) from None
    except (MergeRefused, UnknownIncident) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc), ctx) from None
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis cannot be reached ({type(exc).__name__}): nothing was changed") from None
    except ConfigError as exc:
        fail_on_config(ctx, exc, "rules error")
    finally:
        store.close()


def _body(body: str | None, body_file: Path | None) -> str:
    if (body is None) == (body_file is None):
        raise click.UsageError("give the words with --body TEXT or --body-file FILE (- reads standard input)")
    if body_file is None:
        return str(body)
    return sys.stdin.read() if str(body_file) == "-" else body_file.read_text(encoding="utf-8")


def _say(as_json: bool, data: dict[str, Any], sentence: str) -> None:
    click.echo(json.dumps(data) if as_json else sentence)


def _words_command(name: str, public: bool, help: str) -> click.Command:
    @click.command(name, help=help)
    @click.argument("ticket_id")
    @click.option("--body", default=None, help="The words.")
    @click.option("--body-file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), default=None,
                  help="Read the words from a file (- for standard input).")  # fmt: skip
    @ACTOR
    @AS_JSON
    @click.pass_context
    def command(ctx: click.Context, ticket_id: str, body: str | None, body_file: Path | None, actor: str,
                as_json: bool) -> None:  # fmt: skip
        words = _body(body, body_file)
        with _desk(ctx, redis_needed=public) as desk:
            comment = (desk.reply if public else desk.note)(ticket_id, words, actor)
            tid = desk.store.get(ticket_id).id
        told = "the requester will be told on their channel" if public else "internal: it is never sent"
        _say(as_json, {"ticket": tid, "comment": comment, "public": public}, f"#{tid}: {name} added ({told})")

    return command


reply = _words_command("reply", True, "Reply publicly: the requester is told on their own channel, through the outbox.")
note = _words_command("note", False, "Add an internal note for staff: it never leaves the desk.")


@click.command("assign")
@click.argument("ticket_id")
@click.argument("person", required=False)
@click.option("--nobody", is_flag=True, help="Back to balancing: the ticket's group picks someone, else no one.")
@ACTOR
@AS_JSON
@click.pass_context
def assign(ctx: click.Context, ticket_id: str, person: str | None, nobody: bool, actor: str, as_json: bool) -> None:
    """Give a ticket to a person, or (--nobody) back to its group's balancing."""
    if (person is None) == (not nobody):
        raise click.UsageError("name a PERSON or give --nobody")
    with _desk(ctx, redis_needed=True) as desk:
        done = desk.assign(ticket_id, person, actor)
        tid = desk.store.get(ticket_id).id
    data = {"ticket": tid, "assignee": done.assignee, "group": done.group, "balanced": done.balanced}
    _say(as_json, data, f"#{tid}: {done.describe()}")


@click.command("set")
@click.argument("ticket_id")
@click.option("--priority", default=None, help="low, normal, high or urgent.")
@click.option("--category", default=None, help="A category the form or the rules name.")
@click.option("--queue", "--department", "queue", default=None, help="A department's queue the configuration names.")
@ACTOR
@AS_JSON
@click.pass_context
def set_fields(ctx: click.Context, ticket_id: str, priority: str | None, category: str | None, queue: str | None,
               actor: str, as_json: bool) -> None:  # fmt: skip
    """Change a ticket's priority, category or queue (the department)."""
    with _desk(ctx) as desk:
        t = desk.update_fields(ticket_id, actor, priority=priority, category=category, queue=queue)
    data = {"ticket": t.id, "priority": t.priority, "category": t.category, "queue": t.queue}
    _say(as_json, data, f"#{t.id}: queue {t.queue}, category {t.category or '-'}, priority {t.priority}")


@click.command("merge")
@click.argument("ticket_id")
@click.option("--into", "into", required=True, help="The ticket it is merged into (the same family's).")
@ACTOR
@click.pass_context
def merge(ctx: click.Context, ticket_id: str, into: str, actor: str) -> None:
    """Merge a ticket into another from the same family: its comments, files and time move, and it is closed."""
    with _desk(ctx, redis_needed=True) as desk:
        desk.merge(ticket_id, into, actor)
        source, target = desk.store.get(ticket_id).id, desk.store.get(into).id
    click.echo(f"#{source} merged into #{target}")


@click.command("link")
@click.argument("ticket_id")
@click.option("--incident", default=None, help="The incident's id (`intake incident list`).")
@click.option("--none", "unlink", is_flag=True, help="Unlink the ticket from its incident.")
@ACTOR
@click.pass_context
def link(ctx: click.Context, ticket_id: str, incident: str | None, unlink: bool, actor: str) -> None:
    """Link a ticket to an incident, or (--none) unlink it."""
    if (incident is None) == (not unlink):
        raise click.UsageError("give --incident ID or --none")
    with _desk(ctx, redis_needed=True) as desk:
        desk.link_incident(ticket_id, incident, actor)
        t = desk.store.get(ticket_id)
    click.echo(f"#{t.id} linked to incident {t.incident_id}" if t.incident_id else f"#{t.id} linked to no incident")


@click.command("log-time")
@click.argument("ticket_id")
@click.option("--minutes", type=click.IntRange(min=1), required=True)
@click.option("--type", "work_type", required=True, help="A work type of desk.work_types, e.g. break/fix.")
@click.option("--person", default=None, help="Who spent the time (default: --actor).")
@click.option("--note", default=None, help="What the time went on.")
@ACTOR
@AS_JSON
@click.pass_context
def log_time(ctx: click.Context, ticket_id: str, minutes: int, work_type: str, person: str | None,
             note: str | None, actor: str, as_json: bool) -> None:  # fmt: skip
    """Record time spent on a ticket, against a configured work type."""
    with _desk(ctx) as desk:
        e = desk.log_time(ticket_id, person or actor, minutes, work_type, actor, note=note)
    data = {"ticket": e.ticket_id, "entry": e.id, "person": e.person, "minutes": e.minutes, "work_type": e.work_type}
    _say(as_json, data, f"#{e.ticket_id}: {e.minutes} min of {e.work_type} logged for {e.person}")


ACTIONS = (reply, note, assign, set_fields, merge, link, log_time)
