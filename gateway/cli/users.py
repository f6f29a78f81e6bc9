"""`intake users ...`: staff accounts for the desk and the dashboard (the admin's users page does the same)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import redis

from gateway.accounts.lockout import Lockout
from gateway.accounts.manage import AccountProblem, add_user, departments_from, set_disabled, set_password, set_role
from gateway.accounts.roles import RANK, normalize_username
from gateway.accounts.sessions import end_all
from gateway.cli.common import settings
from gateway.settings import Settings
from gateway.store.redis_conn import sync_client
from gateway.tickets import TicketStore, User

R = TypeVar("R")
ROLE = click.Choice(list(RANK))


def actor() -> str:
    """Who ran the command, as the audit log names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _with_store(ctx: click.Context, work: Callable[[TicketStore], R]) -> R:
    import sqlalchemy as sa

    try:
        store = TicketStore.from_settings(settings(ctx))
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"the ticket store's database cannot be reached: {exc.orig}") from None
    try:
        return work(store)
    except AccountProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _end_sessions(s: Settings, username: str) -> None:
    """The person's change takes effect now: their sessions end in every web process."""
    try:
        client = sync_client(s)
        ended = end_all(client, s.signing_key(), username)
        client.close()
    except (redis.RedisError, OSError):
        click.echo(
            "warning: Redis is not reachable, so sessions were not ended; they end within the idle time", err=True
        )
        return
    if ended:
        click.echo(f"{ended} session(s) of {username} ended")


def _password(ctx: click.Context, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """Staff who sign in to the desk and the dashboard: agent, supervisor or admin."""


@users.command("add")
@click.argument("username")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--email", default=None)
@click.option("--role", type=ROLE, default="agent", show_default=True)
@click.option("--department", "departments", multiple=True, help="A queue they work (repeat it for more).")
@click.option(
    "--ldap", "directory", is_flag=True, help="They sign in with the directory's password (no password here)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
def users_add(ctx: click.Context, username: str, name: str, email: str | None, role: str, departments: tuple[str, ...],
              directory: bool, password_stdin: bool) -> None:  # fmt: skip
    """Add an account. Asks for its password (twice) unless --ldap or --password-stdin."""
    s = settings(ctx)
    password = None if directory else _password(ctx, password_stdin)
    user = _with_store(ctx, lambda store: add_user(
        store, actor(), username, name, role, email=email, departments=departments_from(departments),
        password=password, directory=directory, min_length=s.signin.password_min_length,
    ))  # fmt: skip
    click.echo(f"added {user.username} ({user.role}{', ' + ', '.join(user.departments) if user.departments else ''})")


@users.command("update")
@click.argument("username")
@click.option("--role", type=ROLE, default=None)
@click.option("--department", "departments", multiple=True, help="Their queues, replacing the old ones (repeatable).")
@click.option("--no-departments", is_flag=True, help="Remove every department.")
@click.pass_context
def users_update(
    ctx: click.Context, username: str, role: str | None, departments: tuple[str, ...], no_departments: bool
) -> None:
    """Change someone's role and/or departments; their sessions end."""
    depts: tuple[str, ...] | None = () if no_departments else (departments or None)
    if role is None and depts is None:
        raise click.UsageError("give --role and/or --department (or --no-departments)")
    user = _with_store(ctx, lambda store: set_role(store, actor(), username, role, depts))
    _end_sessions(settings(ctx), user.username)
    click.echo(f"{user.username} is {user.role}; departments: {', '.join(user.departments) or 'none'}")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Switch an account off: it cannot sign in, and its sessions end now."""
    user = _with_store(ctx, lambda store: set_disabled(store, actor(), username, True))
    _end_sessions(settings(ctx), user.username)
    click.echo(f"{user.username} is switched off")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx: click.Context, username: str) -> None:
    """Switch an account on again."""
    user = _with_store(ctx, lambda store: set_disabled(store, actor(), username, False))
    click.echo(f"{user.username} is switched on")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
def users_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a local account's password; its sessions end."""
    s = settings(ctx)
    password = _password(ctx, password_stdin)
    user = _with_store(
        ctx, lambda store: set_password(store, actor(), username, password, s.signin.password_min_length)
    )
    _end_sessions(s, user.username)
    click.echo(f"password of {user.username} changed")


@users.command("unlock")
@click.argument("username")
@click.pass_context
def users_unlock(ctx: click.Context, username: str) -> None:
    """Lift a lock that failed sign-ins put on an account (before it ends by itself)."""
    s = settings(ctx)
    name = normalize_username(username)
    try:
        client = sync_client(s)
        Lockout(s.signin.lockout, s.signing_key()).unlock(client, name)
        client.close()
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(f"Redis is not reachable: {type(exc).__name__}") from None
    _with_store(ctx, lambda store: store.audit.record(actor(), "user_unlock", None, {"user": name}))
    click.echo(f"{name} may sign in again")


def _row(u: User, s: Settings) -> dict[str, Any]:
    def local(at: Any) -> str | None:
        return at.astimezone(s.zone).isoformat(timespec="seconds") if at else None

    return {
        "username": u.username, "name": u.name, "email": u.email, "role": u.role, "departments": list(u.departments),
        "source": u.source, "disabled": u.disabled, "failed_logins": u.failed_logins,
        "locked_until": local(u.locked_until), "last_login_at": local(u.last_login_at),
    }  # fmt: skip


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every account: role, departments, how they sign in, state, last sign-in (district time)."""
    s = settings(ctx)
    rows = [_row(u, s) for u in _with_store(ctx, lambda store: store.users.all())]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        depts = ",".join(r["departments"]) or "-"
        last = r["last_login_at"] or "never"
        click.echo(
            f"{r['username']:<20} {r['role']:<10} {r['source']:<5} {state:<8} {depts:<24} last {last}  {r['name']}"
        )
    click.echo(f"{len(rows)} user(s)")
