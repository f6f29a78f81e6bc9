"""The MIME tree -> body segments, files and diagnostics. Pure: every file found is listed, none dropped."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

from normalizers.email_charset import decode_bytes, decode_words
from normalizers.email_headers import Headers
from normalizers.email_html import html_to_text
from normalizers.email_text import unflow
from normalizers.email_tnef import read_tnef
from normalizers.text import clean_text

MAX_DEPTH = 16  # deeper MIME nesting is an attack or a broken client, not a parent's mail
_RFC822 = "message/rfc822"
_SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/heic": ".heic", "image/webp": ".webp",
    "application/pdf": ".pdf", "application/zip": ".zip", "text/plain": ".txt", "text/html": ".html",
    "text/calendar": ".ics", "text/csv": ".csv", "message/rfc822": ".eml", "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt", "audio/mpeg": ".mp3", "audio/wav": ".wav", "video/mp4": ".mp4",
    "application/pkcs7-mime": ".p7m", "application/msword": ".doc",
}  # fmt: skip
_DEFAULT_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "text/rfc822-headers": "original-headers.txt",
    "message/rfc822": "attached-message.eml",
}
_TYPES = {ext: ctype for ctype, ext in _EXTENSIONS.items() if not ctype.startswith("message/")}
_TYPES.update(
    {
        ".jpeg": "image/jpeg",
        ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)


@dataclass(frozen=True)
class ParsedPart:
    """A file found in the message: an attachment, an inline image, a file from winmail.dat, an attached message."""

    filename: str
    declared_type: str  # what the sender claimed; the blob store sniffs the real type from the bytes
    data: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Segment:
    plain: str | None = None
    html: str | None = None


@dataclass
class Body:
    segments: list[Segment] = field(default_factory=list)
    tnef: list[Segment] = field(default_factory=list)  # winmail.dat bodies: used only when nothing else has one
    attached: list[str] = field(default_factory=list)  # text of attached messages, for full_text


@dataclass
class Walk:
    body: Body = field(default_factory=Body)
    files: list[ParsedPart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # charset fallbacks
    defects: list[str] = field(default_factory=list)
    delivery_status: list[Message] = field(default_factory=list)
    hint: str | None = None  # the first declared text charset: how old clients wrote raw 8-bit headers


@dataclass(frozen=True)
class Rendered:
    full: str  # all text, attached messages included
    new: str  # text before the first HTML quoted-history marker
    html: tuple[str, ...]  # the HTML parts, unsanitized


def walk(msg: Message) -> Walk:
    result = Walk()
    _walk(msg, result, result.body, 0, signed=False)
    return result


def _mentions(part: Message, header: str, param: str) -> bool:
    """Whether a header could hold the parameter at all: the stdlib parses every parameter of a header each time
    one is asked for, which was a tenth of a parsing process's time."""
    value = part.get(header)
    return value is not None and param in str(value).lower()


def _filename(part: Message, hint: str | None) -> str | None:
    try:
        value = None
        if _mentions(part, "content-disposition", "filename"):
            value = part.get_param("filename", None, "content-disposition")
        if value is None and _mentions(part, "content-type", "name"):
            value = part.get_param("name", None, "content-type")
    except (ValueError, LookupError, TypeError, IndexError):
        return None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text as Latin-1 code points)
        charset, _, text = value
        try:
            data = str(text).encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            return str(text).strip() or None
        return decode_bytes(data, charset).text.strip() or None
    # Outlook and Gmail put RFC 2047 encoded-words inside the quoted parameter, against the rules.
    return decode_words(str(value), hint)[0].strip() or None


# Compiled once: the stdlib parser compiles a pattern for every multipart boundary it meets, which churns re's cache.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def safe_filename(name: str | None, ctype: str, index: int) -> str:
    """A file name that is safe to show and store: no path, no control characters, a sane length."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _SPACES.sub(" ", _CONTROLS.sub("", name)).strip().strip(".")
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[:140]}.{ext[:9]}" if dot and len(ext) <= 9 else name[:150]
    if not name:
        prefix = "image" if ctype.startswith("image/") else "attachment"
        name = _DEFAULT_NAMES.get(ctype) or f"{prefix}-{index}{_EXTENSIONS.get(ctype, '.bin')}"
    return name


def type_for(filename: str) -> str:
    return _TYPES.get("." + filename.rpartition(".")[2].lower(), "application/octet-stream")


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text(part: Message, walk: Walk) -> str:
    charset = part.get_content_charset()
    if walk.hint is None and charset:
        walk.hint = charset
    decoded = decode_bytes(_payload(part), charset)
    if decoded.note:
        walk.notes.append(f"{part.get_content_type()} part: {decoded.note}")
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    flowed = part.get_content_subtype() == "plain" and _mentions(part, "content-type", "format")
    if flowed and str(part.get_param("format", "")).lower() == "flowed":
        text = unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    cid = str(value).strip().strip("<>").strip() if value is not None else ""
    return cid or None


def serialize(msg: Message) -> bytes | None:
    buffer = BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0, policy=compat32.clone(linesep="\r\n")).flatten(msg)
    except (MessageError, ValueError, TypeError, LookupError, AttributeError, RecursionError):
        return None  # the generator recurses per MIME level: a message nested hundreds deep cannot be rebuilt
    return buffer.getvalue()


def _walk(part: Message, walk: Walk, body: Body, depth: int, *, signed: bool) -> None:
    if depth > MAX_DEPTH:
        walk.defects.append(f"MIME parts nested deeper than {MAX_DEPTH} levels were not read")
        return
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global", "message/news"):
        _attached_message(part, walk, body, depth)
        return
    if ctype == "message/delivery-status":
        blocks = [b for b in part.get_payload() if isinstance(b, Message)] if part.is_multipart() else []
        walk.delivery_status.extend(blocks)
        text = "\n\n".join("\n".join(f"{k}: {v}" for k, v in b.raw_items()) for b in blocks)
        data = text.encode("utf-8", "surrogateescape") if blocks else _payload(part)
        walk.files.append(ParsedPart(safe_filename(None, ctype, len(walk.files) + 1), ctype, data))
        return
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            _alternative(children, walk, body, depth)
            return
        for child in children:
            _walk(child, walk, body, depth + 1, signed=ctype == "multipart/signed")
        return
    if signed and ctype in _SIGNATURE_TYPES:
        return  # a signature is not content: it says who signed, which the ticket does not show
    filename = _filename(part, walk.hint)
    disposition = part.get_content_disposition()
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = _text(part, walk)
        body.segments.append(Segment(plain=text) if ctype == "text/plain" else Segment(html=text))
        return
    data = _payload(part)
    if ctype == "application/ms-tnef" or (filename or "").lower() == "winmail.dat":
        tnef = read_tnef(data)
        if tnef and (tnef.files or tnef.body or tnef.html):
            for name, blob in tnef.files:
                name = safe_filename(name, "application/octet-stream", len(walk.files) + 1)
                walk.files.append(ParsedPart(name, type_for(name), blob))
            if tnef.body or tnef.html:
                body.tnef.append(Segment(tnef.body, tnef.html))
            return
        walk.defects.append("winmail.dat could not be read: kept as it came")
    if ctype == "application/pkcs7-mime":
        walk.defects.append("encrypted (S/MIME) content cannot be read: kept as a file")
    cid = _content_id(part)
    inline = disposition == "inline" or (disposition is None and cid is not None)
    walk.files.append(ParsedPart(safe_filename(filename, ctype, len(walk.files) + 1), ctype, data, inline, cid))


def _alternative(children: list[Message], walk: Walk, body: Body, depth: int) -> None:
    # Every alternative is walked (an HTML branch may carry the inline images); the text comes from the first
    # non-empty plain branch, the HTML from the last (richest) HTML branch.
    branches = []
    for child in children:
        branch = Body()
        _walk(child, walk, branch, depth + 1, signed=False)
        branches.append(branch)
        body.attached.extend(branch.attached)
    plains = ["\n\n".join(s.plain for s in b.segments if s.plain and s.plain.strip()) for b in branches]
    plains = [p for p in plains if p]
    htmls = ["\n".join(s.html for s in b.segments if s.html) for b in branches]
    htmls = [h for h in htmls if h.strip()]
    if plains or htmls:
        body.segments.append(Segment(plain=plains[0] if plains else None, html=htmls[-1] if htmls else None))
    for branch in branches:
        body.tnef.extend(branch.tnef)


def _attached_message(part: Message, walk: Walk, body: Body, depth: int) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    filename = _filename(part, walk.hint)
    if inner is None:
        name = safe_filename(filename, _RFC822, len(walk.files) + 1)
        walk.files.append(ParsedPart(name, _RFC822, _payload(part)))
        return
    headers = Headers(inner, walk.hint)
    subject = headers.first("subject") or ""
    lines = [f"{label}: {value}" for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"))
             if (value := headers.first(name))]  # fmt: skip
    walk.notes.extend(headers.notes)
    serialized = serialize(inner)
    if serialized is None:
        walk.defects.append("an attached message could not be re-serialized: its text is kept, not the file")
    else:
        filename = filename or (f"{subject[:100]}.eml" if subject else None)
        walk.files.append(ParsedPart(safe_filename(filename, _RFC822, len(walk.files) + 1), _RFC822, serialized))
    # Its files are listed too (after the .eml): staff need the permission slip, not a mail client to open it.
    inner_body = Body()
    _walk(inner, walk, inner_body, depth + 1, signed=False)
    text = render(inner_body).full
    body.attached.append("\n".join(["---------- Attached message ----------", *lines, "", text]).strip())


def _segment_text(segment: Segment) -> tuple[str, str, bool] | None:
    if segment.plain and segment.plain.strip():
        return segment.plain, segment.plain, False
    if segment.html:
        converted = html_to_text(segment.html)
        return converted.full, converted.new, converted.quote_marked
    return None


def render(body: Body) -> Rendered:
    converted = [(s, _segment_text(s)) for s in body.segments]
    if not any(c for _, c in converted):
        converted = [(s, _segment_text(s)) for s in body.tnef]
    fulls: list[str] = []
    news: list[str] = []
    quoted = False
    for _, texts in converted:
        if texts is None:
            continue
        full, new, marked = texts
        fulls.append(full)
        if not quoted:
            news.append(new)
            quoted = marked
    html = tuple(s.html for s, _ in converted if s.html)
    return Rendered(clean_text("\n\n".join(fulls + body.attached)), "\n\n".join(news), html)
