"""A raw email (RFC 5322 bytes) -> plain facts for the email channel. Pure: no I/O, no clock, no configuration.

The channel stores the files (`screen_files` says which to keep), resolves the conversation from the ids and
tokens, and compares the loop facts with its own stamp.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import compat32

from normalizers.email_flags import AutoFlags, detect, dmarc_fail_from
from normalizers.email_headers import (
    Headers,
    message_ids,
    parse_date,
    plus_token,
    strip_subject_prefixes,
    subject_token,
)
from normalizers.email_html import sanitize_html
from normalizers.email_language import detect_language
from normalizers.email_mime import ParsedPart, render, walk
from normalizers.email_nesting import too_deep
from normalizers.email_text import new_content
from normalizers.text import clean_text

__all__ = [
    "AutoFlags",
    "ParsedEmail",
    "ParsedPart",
    "Screened",
    "UnparseableEmail",
    "dmarc_fail_from",
    "parse_email",
    "screen_files",
    "strip_subject_prefixes",
]

# At least one of these must be present for the bytes to count as mail at all.
_MAIL_HEADERS = {
    "from", "to", "cc", "subject", "date", "message-id", "received", "return-path", "mime-version",
    "content-type", "delivered-to", "sender", "reply-to", "in-reply-to", "references", "x-original-to",
}  # fmt: skip
# Scripts and installers that sniffing cannot catch (they are text or archives); never kept.
FORBIDDEN_EXTENSIONS = frozenset(
    {".exe", ".scr", ".com", ".pif", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".msi", ".msp",
     ".ps1", ".hta", ".cpl", ".jar", ".lnk", ".reg", ".dll"}
)  # fmt: skip


class UnparseableEmail(ValueError):
    """Nothing usable: empty, or bytes with no mail headers at all. The channel quarantines the raw message."""


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None  # without <>; None if absent
    in_reply_to: str | None
    references: tuple[str, ...]  # in order, deduplicated
    from_addr: str  # lower-cased; '' if unparseable
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]  # Delivered-To / X-Original-To / Envelope-To: the mailbox address it came in on
    reply_to: str | None
    subject: str  # decoded, whitespace collapsed, prefixes kept
    subject_token: str | None  # '1234' from a '[#1234]' tag
    plus_token: str | None  # 'K7QM2XPA' from help+K7QM2XPA@..., our mailbox addresses first
    date: datetime | None  # UTC
    text: str  # new content only: quoted history, forwarded content and signature removed
    full_text: str  # the whole body as text, attached messages included
    files: tuple[ParsedPart, ...]
    auto: AutoFlags
    authentication_results: tuple[str, ...]  # for dmarc_fail_from(parsed.authentication_results, border_host)
    charset_fallbacks: tuple[str, ...]  # where a declared charset was wrong, unknown or missing
    defects: tuple[str, ...]  # what could not be read, for the operator
    html_parts: tuple[str, ...] = ()  # the HTML bodies as sent: `html` sanitizes them when asked

    # Computed when read, once: the channel's intake needs neither (a request's language is found by the
    # pipeline only when a rule routes on it, else by the worker), and each costs as much as the MIME parse.
    @functools.cached_property
    def html(self) -> str | None:
        """Sanitized, when the message had HTML."""
        return sanitize_html("\n".join(self.html_parts)) if self.html_parts else None

    @functools.cached_property
    def language(self) -> str | None:
        """ISO 639-1 of `text`; None when unsure."""
        return detect_language(self.text)

    def dmarc_failed(self, border_host: str) -> bool:
        """dmarc=fail recorded by our own border host (see dmarc_fail_from)."""
        return dmarc_fail_from(self.authentication_results, border_host)


def parse_email(raw: bytes) -> ParsedEmail:
    """Everything the channel needs from one raw message. Degrades gracefully: bad charsets, broken encodings and
    odd structure give partial results and diagnostics; only bytes with nothing usable raise UnparseableEmail."""
    if not raw.strip():
        raise UnparseableEmail("empty message")
    if too_deep(raw):
        raise UnparseableEmail("MIME structure nested too deeply to parse")
    try:
        msg = message_from_bytes(raw, policy=compat32)
    except RecursionError:
        raise UnparseableEmail("MIME structure nested too deeply to parse") from None
    if not any(str(name).strip().lower() in _MAIL_HEADERS for name in msg):
        raise UnparseableEmail("no mail headers")
    parts = walk(msg)
    headers = Headers(msg, parts.hint)

    subject = clean_text(headers.first("subject") or "").replace("\n", " ")
    senders = headers.addresses("from")
    from_name, from_addr = (senders[0][0], senders[0][1].lower()) if senders else ("", "")
    to = headers.addresses("to")
    cc = headers.addresses("cc")
    delivered = list(dict.fromkeys(a for _, a in headers.addresses("delivered-to", "x-original-to", "envelope-to")))
    reply_to = headers.addresses("reply-to")
    # Tokens are read before lower-casing: the channel issues them in one case and may compare exactly.
    token = plus_token([*delivered, *(a for _, a in to), *(a for _, a in cc)])
    message_id = next(iter(message_ids(headers.first("message-id"))), None)
    rendered = render(parts.body)
    text = new_content(rendered.new) or rendered.full
    content_type = msg.get_content_type()
    # Read only where it means something (a bounce): reading a parameter parses the whole Content-Type header again.
    report_type = msg.get_param("report-type") if content_type == "multipart/report" else None
    auto = detect(
        headers,
        subject=subject,
        from_addr=from_addr,
        content_type=content_type,
        report_type=report_type if isinstance(report_type, str) else None,
        message_id=message_id,
        delivery_status=parts.delivery_status,
    )
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=next(iter(message_ids(headers.first("in-reply-to"))), None),
        references=tuple(message_ids(" ".join(headers.all("references")))),
        from_addr=from_addr,
        from_name=clean_text(from_name),
        to=tuple(a.lower() for _, a in to),
        cc=tuple(a.lower() for _, a in cc),
        delivered_to=tuple(dict.fromkeys(a.lower() for a in delivered)),
        reply_to=reply_to[0][1].lower() if reply_to else None,
        subject=subject,
        subject_token=subject_token(subject),
        plus_token=token,
        date=parse_date(headers.first("date")),
        text=text,
        full_text=rendered.full,
        html_parts=tuple(rendered.html),
        files=tuple(parts.files),
        auto=auto,
        authentication_results=tuple(headers.all("authentication-results")),
        charset_fallbacks=tuple(dict.fromkeys(parts.notes + headers.notes)),
        defects=tuple(dict.fromkeys(parts.defects)),
    )


@dataclass(frozen=True)
class Screened:
    part: ParsedPart
    content_type: str  # sniffed from the bytes
    kept: bool
    reason: str | None  # why not kept, for the ticket ("larger than 25 MB")


def _amount(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{size} bytes"


def screen_files(
    files: Iterable[ParsedPart],
    *,
    sniff: Callable[[bytes], str],
    forbidden_types: Collection[str],
    max_file_bytes: int,
    max_files: int,
    max_total_bytes: int,
) -> tuple[Screened, ...]:
    """Which files to keep, and why each other one is not: every file comes back, kept or with its reason."""
    result: list[Screened] = []
    kept_count = kept_bytes = 0
    for part in files:
        ctype = sniff(part.data)
        extension = "." + part.filename.rpartition(".")[2].lower() if "." in part.filename else ""
        reason: str | None = None
        if ctype in forbidden_types or extension in FORBIDDEN_EXTENSIONS:
            reason = "program files are not accepted"
        elif part.size > max_file_bytes:
            reason = f"larger than {_amount(max_file_bytes)}"
        elif kept_count >= max_files:
            reason = f"more than {max_files} files in one message"
        elif kept_bytes + part.size > max_total_bytes:
            reason = f"the files of one message may not exceed {_amount(max_total_bytes)} together"
        if reason is None:
            kept_count += 1
            kept_bytes += part.size
        result.append(Screened(part, ctype, reason is None, reason))
    return tuple(result)
