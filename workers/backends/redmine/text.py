"""What the gateway writes into Redmine: an issue's description, its notes, and the mark that makes each note once.

Redmine has no contacts: the requester is named at the top of the description (and in the Requester custom
field), so staff see who asked and how to reach them without leaving the issue. Every note the gateway adds
ends with a line `intake-id: <key>`; before adding a note it looks for that line in the issue's journals, so a
retried job never posts the same note twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.models import Attachment, Commitment, InboundMessage

MARK = "intake-id: "
SUBJECT_MAX = 255  # Redmine's column


def mark(key: str) -> str:
    return f"{MARK}{key}"


def has_mark(notes: str | None, key: str) -> bool:
    """Whether a journal's notes end a note the gateway wrote under `key` (a whole line, so no key matches another)."""
    return mark(key) in (line.strip() for line in (notes or "").splitlines())


def requester(m: InboundMessage) -> str:
    """Who asked, in one line: their name, then every way back to them the channel or directory gave."""
    r = m.requester
    parts = [r.display_name, r.email or "", r.phone or ""]
    if not (r.email or r.phone) and m.sender:
        parts.append(m.sender)
    return " · ".join(dict.fromkeys(p for p in parts if p)) or "unknown"


def subject(m: InboundMessage) -> str:
    first_line = next((line.strip() for line in m.text.splitlines() if line.strip()), "")
    return (m.subject.strip() or first_line or "Request")[:SUBJECT_MAX]


def _not_attached(files: Iterable[Attachment], refused: dict[str, str]) -> list[str]:
    lines = [f"* {a.filename}: not kept ({a.reason or 'not stored'})" for a in files if not a.kept]
    lines += [f"* {name}: not attached ({why})" for name, why in refused.items()]
    return lines


def description(c: Commitment, refused: dict[str, str]) -> str:
    """The issue's description: who asked and where from, then their words, then any file we could not attach."""
    m = c.message
    facts = [f"Requester: {requester(m)} ({m.requester.role})", f"Channel: {m.channel} ({m.account})"]
    facts.append(f"Language: {m.language}")
    if m.campus or m.requester.campus:
        facts.append(f"School: {m.campus or m.requester.campus}")
    if c.route.tags:
        facts.append(f"Tags: {', '.join(c.route.tags)}")
    body = ["\n".join(facts), m.text or "(no text)"]
    missing = _not_attached(m.attachments, refused)
    if missing:
        body.append("Files:\n" + "\n".join(missing))
    return "\n\n".join(body)


def note(c: Commitment, key: str, refused: dict[str, str]) -> str:
    """A follow-up (or our own internal note) as a journal's notes, marked with its key."""
    parts = [c.message.text or "(no text)"]
    missing = _not_attached(c.message.attachments, refused)
    if missing:
        parts.append("Files:\n" + "\n".join(missing))
    parts.append(mark(key))
    return "\n\n".join(parts)


def status_note(comment: str | None, key: str) -> str:
    return f"{comment}\n\n{mark(key)}" if comment else mark(key)
