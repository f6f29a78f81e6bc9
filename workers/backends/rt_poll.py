"""Statuses and staff answers back from Request Tracker, which sends no webhooks: one poll of what changed.

Each poll is one TicketSQL search for the tickets carrying our request id that changed since the
checkpoint, then their new transactions in one TransactionSQL search (per 50 tickets), and the text of
the staff answers among them in one attachment search. Never a call per open ticket.

What becomes a StatusEvent, with the transaction id as its `delivery_id` (so a poll that sees it again
changes nothing): a status change, and a public answer (Correspond) written by staff, quoted as
written. A status change that follows an answer at once (RT opens a ticket when staff answer it; staff
may answer and resolve in one step) is told with the answer, as one message. Left out: internal
comments (never read at all), what the requester wrote themselves (they sent it), and what we wrote
(the requester's follow-ups, our own status changes: the family already heard them from us).

The checkpoint is `t=<unix time of the last poll>;txn=<newest transaction id seen>`. RT reads a date
in TicketSQL in the API user's own time zone, so the window is asked for as `N seconds ago`, which RT
computes itself, with a minute of overlap for clocks that disagree; the transaction id is exact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.models import StatusEvent, TicketStatus
from normalizers.email_html import html_to_text
from workers.backends.rt_client import NAME, RtApi

OVERLAP_S = 60
CHUNK = 50
FROM_RT = {
    "new": TicketStatus.NEW,
    "open": TicketStatus.OPEN,
    "stalled": TicketStatus.WAITING,
    "resolved": TicketStatus.RESOLVED,
    "rejected": TicketStatus.CLOSED,
    "deleted": TicketStatus.CLOSED,
}


def ours(status: str) -> TicketStatus:
    """RT's status as ours; a status of a custom lifecycle counts as open."""
    return FROM_RT.get(status.lower(), TicketStatus.OPEN)


def parse_checkpoint(checkpoint: str) -> tuple[float | None, int]:
    parts = dict(p.split("=", 1) for p in checkpoint.split(";") if "=" in p)
    try:
        return float(parts["t"]), int(parts.get("txn", "0"))
    except (KeyError, ValueError):
        return None, 0


def checkpoint_of(at: float, txn: int) -> str:
    return f"t={int(at)};txn={txn}"


def poll(api: RtApi, field: str, checkpoint: str, now: float | None = None) -> tuple[list[StatusEvent], str]:
    now = time.time() if now is None else now
    since, last_txn = parse_checkpoint(checkpoint)
    if since is None:  # the first poll starts now: what happened before was never ours to tell
        return [], checkpoint_of(now, api.newest_transaction_id())
    window = int(max(0.0, now - since)) + OVERLAP_S
    query = f"'CF.{{{field}}}' IS NOT NULL AND LastUpdated >= '{window} seconds ago'"
    fields = ["Status", "Creator", "Requestor", "LastUpdated"]
    found = api.listing(api.client.search, raw_query=query, order="id", query_format=fields)
    tickets = {str(t["id"]): t for t in found}
    if not tickets:
        return [], checkpoint_of(now, last_txn)
    txns: list[dict[str, Any]] = []
    ids = sorted(tickets, key=int)
    for start in range(0, len(ids), CHUNK):
        objects = " OR ".join(f"ObjectId = {i}" for i in ids[start : start + CHUNK])
        kinds = "(Type = 'Status' OR Type = 'Correspond')"
        query = f"ObjectType = 'RT::Ticket' AND id > {last_txn} AND ({objects}) AND {kinds}"
        txns += api.transactions(query, "Type,Field,OldValue,NewValue,Creator,Created,ObjectId")
    newest = max([last_txn, *(int(t["id"]) for t in txns)])
    answers = [t for t in txns if t["Type"] == "Correspond" and not _ours_or_theirs(t, tickets[str(t["ObjectId"])])]
    written = _texts(api, [str(t["id"]) for t in answers])
    texts = {str(t["id"]): written.get(str(t["id"]), "") for t in answers}
    events: list[StatusEvent] = []
    for ticket_id in ids:
        own = sorted((t for t in txns if str(t["ObjectId"]) == ticket_id), key=lambda t: int(t["id"]))
        events += _events(ticket_id, tickets[ticket_id], own, texts)
    return events, checkpoint_of(now, newest)


def _who(txn: dict[str, Any]) -> set[str]:
    creator = txn.get("Creator") or {}
    return {str(creator.get(k)).lower() for k in ("id", "Name", "EmailAddress") if creator.get(k)}


def _ours_or_theirs(txn: dict[str, Any], ticket: dict[str, Any]) -> bool:
    """Written by us (we made every ticket carrying our id), or by the requester themselves."""
    us = str((ticket.get("Creator") or {}).get("id", "")).lower()
    requestors = {str(r.get("id", "")).lower() for r in ticket.get("Requestor") or []}
    who = _who(txn)
    return bool(who & ({us} | requestors))


def _texts(api: RtApi, transaction_ids: Sequence[str]) -> dict[str, str]:
    """Each answer's text as written: its text/plain part, else its HTML part as text (RT's rich editor)."""
    plain: dict[str, list[str]] = {}
    html: dict[str, list[str]] = {}
    for part in api.attachments_of(transaction_ids):
        if part.get("Filename"):
            continue
        kind = str(part.get("ContentType", "")).lower()
        into = plain if kind == "text/plain" else html if kind == "text/html" else None
        if into is not None and part.get("Content"):
            into.setdefault(str(part["TransactionId"]), []).append(str(part["Content"]))
    out = {tid: "\n".join(parts).strip() for tid, parts in plain.items()}
    for tid, parts in html.items():
        out.setdefault(tid, "\n".join(html_to_text(p).new for p in parts).strip())
    return out


def _at(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _events(
    ticket_id: str, ticket: dict[str, Any], txns: list[dict[str, Any]], texts: dict[str, str]
) -> list[StatusEvent]:
    first_change = next((t for t in txns if t["Type"] == "Status"), None)
    status = str(first_change["OldValue"]) if first_change else str(ticket.get("Status", "open"))
    made: list[dict[str, Any]] = []
    answer: dict[str, Any] | None = None  # the staff answer a status change right after it joins
    after_ours = False  # RT opens a ticket as a privileged user (we) corresponds: that change is ours too
    for txn in txns:
        if txn["Type"] == "Status":
            status = str(txn["NewValue"])
            if after_ours or _ours_or_theirs(txn, ticket):
                answer, after_ours = None, False
                continue
            if answer is not None:
                answer["status"] = ours(status)
                answer = None
                continue
            made.append({"status": ours(status), "comment": None, "txn": txn})
        elif str(txn["id"]) in texts:
            answer = {"status": ours(status), "comment": texts[str(txn["id"])] or None, "txn": txn}
            made.append(answer)
            after_ours = False
        else:
            answer, after_ours = None, _ours_or_theirs(txn, ticket)
    return [
        StatusEvent(backend=NAME, ticket_ref=ticket_id, status=e["status"], public_comment=e["comment"],
                    actor="staff", at=_at(str(e["txn"].get("Created", ""))), delivery_id=str(e["txn"]["id"]))
        for e in made
    ]  # fmt: skip
