"""How the desk's pages show a value: a status, a priority, a channel or a threading reason in the page's words,
and whether a response clock is overdue or due soon."""

from __future__ import annotations

from datetime import datetime

from gateway.tickets import Ticket
from gateway.web.i18n import Words


def label(t: Words, kind: str, value: str | None) -> str:
    """`value` in words (`status` `in_progress` is "In progress"); the value itself when no word is kept for it."""
    if not value:
        return ""
    try:
        return t.fmt(f"{kind}_{value}")
    except KeyError:
        return value


def due_state(ticket: Ticket, now: datetime, soon: datetime) -> str:
    """`overdue`, `soon` or "" for a ticket's running clock."""
    if ticket.next_due is None:
        return ""
    return "overdue" if ticket.next_due < now else "soon" if ticket.next_due < soon else ""


def size(n: int) -> str:
    """A file's size as people read it (1.2 MB)."""
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
