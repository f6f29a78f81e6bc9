"""One ticket's whole story in time order, as the ticket page shows it: the family's first message, every
follow-up, reply and note (each with its channel and its files), the status changes and the time logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.tickets import Attachment, TicketDetails

IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass(frozen=True)
class Entry:
    kind: str  # message | reply | note | status | time
    at: datetime
    who: str = ""
    by_family: bool = False
    channel: str = ""
    body: str = ""
    status: str = ""
    minutes: int = 0
    work_type: str = ""
    files: list[Attachment] = field(default_factory=list)


def previewable(a: Attachment) -> bool:
    """A kept picture the page may show inline (the file route still sends it as a download otherwise)."""
    return a.kept and bool(a.storage_key) and a.content_type in IMAGES


def entries(d: TicketDetails) -> list[Entry]:
    t = d.ticket
    files: dict[int | None, list[Attachment]] = {}
    for a in d.attachments:
        files.setdefault(a.comment_id, []).append(a)
    family = t.requester_name or t.requester_email or t.requester_phone or ""
    out = [Entry("message", t.created_at, family, True, t.channel, t.body, files=files.get(None, []))]
    for c in d.comments:
        by_family = c.author_kind == "requester"
        kind = "message" if by_family else "reply" if c.public else "note"
        channel = c.channel or (t.channel if by_family else "desk")
        who = c.author or family if by_family else c.author
        out.append(Entry(kind, c.created_at, who, by_family, channel, c.body, files=files.get(c.id, [])))
    for h in d.history[1:]:  # the first is the ticket's making, which the first message already shows
        out.append(Entry("status", h.at, h.actor, body=h.comment or "", status=h.status))
    for e in d.time_entries:
        out.append(Entry("time", e.at, e.person, body=e.note or "", minutes=e.minutes, work_type=e.work_type))
    order = {"message": 0, "reply": 1, "note": 2, "status": 3, "time": 4}
    return sorted(out, key=lambda e: (e.at, order[e.kind]))
