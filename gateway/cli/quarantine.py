"""`intake quarantine`: every mail message the poller could not take, newest first, and clearing what was dealt with.

The message itself waits in its mailbox's quarantine folder and is never deleted by us; what lives in Redis is a
note per message (mailbox, folder, uid, why, when). The notes are kept until an operator clears them: a long
outage's backlog is not trimmed to a few hundred, and the list pages and exports every one.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
import redis

from gateway import keys
from gateway.cli.common import settings
from gateway.store.redis_conn import sync_client

COLUMNS = ("mailbox", "folder", "uid", "reason", "at")
CHUNK = 500


def notes(client: redis.Redis) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every note, newest first, read a chunk at a time: (its stored form, the note)."""
    start = 0
    while True:
        raw: list[str] = client.lrange(keys.MAIL_QUARANTINE, start, start + CHUNK - 1)  # type: ignore[assignment]
        for item in raw:
            yield item, json.loads(item)
        if len(raw) < CHUNK:
            return
        start += CHUNK


def _row(note: dict[str, Any]) -> list[str]:
    return [str(note.get(c, "")) for c in COLUMNS]


@click.group()
def quarantine() -> None:
    """Mail the poller could not take: list it (paged, or all as CSV) and clear what was dealt with."""


@quarantine.command("list")
@click.option("--mailbox", default=None, help="Only this mailbox's messages.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many (newest first).")
@click.option("--limit", type=click.IntRange(min=1), default=50, help="At most this many (default 50).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV of every message the filter finds (no paging).")
@click.pass_context
def quarantine_list(ctx: click.Context, mailbox: str | None, offset: int, limit: int, as_csv: bool) -> None:
    """Newest first; the last line says how many there are and how to see the next page."""
    client = sync_client(settings(ctx))
    try:
        found = (n for _, n in notes(client) if mailbox is None or n.get("mailbox") == mailbox)
        if as_csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(COLUMNS)
            for note in found:
                writer.writerow(_row(note))
            return
        total = shown = 0
        for note in found:
            if offset <= total < offset + limit:
                box, folder, uid, reason, at = _row(note)
                click.echo(f"{at}  {box}/{folder} uid {uid}: {reason}")
                shown += 1
            total += 1
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis cannot be reached: {type(exc).__name__}") from None
    finally:
        client.close()
    click.echo(f"{shown} shown ({offset + 1 if shown else offset}-{offset + shown}) of {total} quarantined")
    if offset + shown < total:
        click.echo(f"next page: intake quarantine list --offset {offset + shown} --limit {limit}")


@quarantine.command("clear")
@click.option("--uid", type=int, default=None, help="The message's uid, as the list shows it.")
@click.option("--mailbox", default=None, help="The mailbox of --uid (needed when two mailboxes have that uid).")
@click.option("--all", "everything", is_flag=True, help="Every note (the messages stay in their folders).")
@click.pass_context
def quarantine_clear(ctx: click.Context, uid: int | None, mailbox: str | None, everything: bool) -> None:
    """Forget the note of a message an operator has dealt with; the message stays in its quarantine folder."""
    if everything == (uid is not None):
        raise click.UsageError("say which: --uid N (with --mailbox when needed) or --all")
    client = sync_client(settings(ctx))
    try:
        if everything:
            count = int(client.llen(keys.MAIL_QUARANTINE))
            client.delete(keys.MAIL_QUARANTINE)
            click.echo(f"cleared {count} note(s)")
            return
        matches = [(raw, n) for raw, n in notes(client) if n.get("uid") == uid and mailbox in (None, n.get("mailbox"))]
        boxes = sorted({str(n.get("mailbox")) for _, n in matches})
        if not matches:
            raise click.ClickException(f"no quarantined message has uid {uid}" + (f" in {mailbox}" if mailbox else ""))
        if len(boxes) > 1:
            raise click.ClickException(f"uid {uid} is quarantined in {', '.join(boxes)}: add --mailbox")
        for raw, _ in matches:
            client.lrem(keys.MAIL_QUARANTINE, 0, raw)
        click.echo(f"cleared {boxes[0]} uid {uid}")
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis cannot be reached: {type(exc).__name__}") from None
    finally:
        client.close()
