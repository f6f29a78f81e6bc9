"""What the gateway writes into a hosted help desk (Zammad, Freshdesk, Zendesk): a ticket's first message, the
family's follow-ups, our notes, and the mark that makes each of them once.

Every message the gateway adds ends with a line `intake-id: <key>`. Before adding one it looks for that line
among the ticket's messages, so a retried job never posts the same message twice; and a webhook reporting a
message that carries the line is reporting our own words (the family's follow-up, our note), never news
for the family.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from gateway.models import Attachment, Commitment, InboundMessage

MARK = "intake-id: "
_ENDS_MARKED = re.compile(rf"(?:^|\s){MARK}\S+\s*$")
CHANNEL_WORDS = {"sms": "text message", "voice": "voicemail", "webform": "web form", "email": "email",
                 "slack": "Slack", "whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram",
                 "x": "X"}  # fmt: skip


def mark(key: str) -> str:
    return f"{MARK}{key}"


def _lines(text: str | None) -> Iterable[str]:
    return (line.strip() for line in (text or "").replace("\r\n", "\n").splitlines())


def has_mark(text: str | None, key: str) -> bool:
    """Whether a message is the one the gateway wrote under `key`: the mark a whole line (no key matches another),
    or the whole end of a message a system flattened into one line."""
    return mark(key) in _lines(text) or re.search(rf"(?:^|\s){re.escape(mark(key))}\s*$", text or "") is not None


def marked(text: str | None) -> bool:
    """Whether a message is one the gateway wrote itself: it ends with our mark (a system may flatten its lines)."""
    return _ENDS_MARKED.search(text or "") is not None


def how(m: InboundMessage) -> str:
    return CHANNEL_WORDS.get(m.channel, m.channel)


def requester(m: InboundMessage) -> str:
    """Who asked, in one line: their name, then every way back to them the channel or directory gave."""
    r = m.requester
    parts = [r.display_name, r.email or "", r.phone or ""]
    if not (r.email or r.phone) and m.sender:
        parts.append(m.sender)
    return " · ".join(dict.fromkeys(p for p in parts if p)) or "unknown"


def subject(m: InboundMessage, limit: int = 200) -> str:
    first_line = next((line for line in _lines(m.text) if line), "")
    return (m.subject.strip() or first_line or "Request")[:limit]


def _not_attached(files: Iterable[Attachment], refused: dict[str, str]) -> list[str]:
    lines = [f"- {a.filename}: not kept ({a.reason or 'not stored'})" for a in files if not a.kept]
    lines += [f"- {name}: not attached ({why})" for name, why in refused.items()]
    return lines


def description(c: Commitment, refused: dict[str, str] | None = None) -> str:
    """A ticket's first message: their words, then who asked, how and where, then any file we could not attach."""
    m = c.message
    facts = [f"Requester: {requester(m)} ({m.requester.role})", f"By {how(m)} to {m.account}, in {m.language}"]
    if m.campus or m.requester.campus:
        facts.append(f"School: {m.campus or m.requester.campus}")
    if c.route.tags:
        facts.append(f"Tags: {', '.join(c.route.tags)}")
    body = [m.text or "(no text)", "\n".join(facts)]
    missing = _not_attached(m.attachments, refused or {})
    if missing:
        body.append("Files:\n" + "\n".join(missing))
    return "\n\n".join(body)


def follow_up(c: Commitment, key: str, refused: dict[str, str] | None = None) -> str:
    """A later message (the family's, or our own note for staff), marked with its key."""
    parts = [c.message.text or "(no text)"]
    missing = _not_attached(c.message.attachments, refused or {})
    if missing:
        parts.append("Files:\n" + "\n".join(missing))
    parts.append(mark(key))
    return "\n\n".join(parts)


def status_comment(comment: str | None, key: str) -> str:
    return f"{comment}\n\n{mark(key)}" if comment else mark(key)


def to_html(text: str) -> str:
    """Plain text for a system that keeps HTML: paragraphs and line breaks kept, nothing else interpreted."""
    blocks = [html.escape(block).replace("\n", "<br>") for block in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(f"<p>{block}</p>" for block in blocks if block)
