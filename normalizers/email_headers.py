"""Header facts: addresses, message ids, subject prefixes and reply tokens, dates. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from normalizers.email_charset import decode_words

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SPACES = re.compile(r"\s+")
# The forms nearly every address header takes: a bare address, or one after a display name written plainly (an
# RFC 2047 word included) or in quotes. These read the same as `getaddresses` reads them, which parses the whole
# grammar twice (about 30 us a header); anything else goes to it (tests/normalizers/fuzz_addresses.py compares).
_ADDR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_SIMPLE_ADDRESS = re.compile(
    rf"[ \t]*(?:(?P<bare>{_ADDR})"
    rf"|(?:\"(?P<quoted>[^\"\\\r\n]*)\"|(?P<plain>[A-Za-z0-9=?_+/'-]+(?:[ \t]+[A-Za-z0-9=?_+/'-]+)*)?)"
    rf"[ \t]*<(?P<addr>{_ADDR})>)[ \t]*"
)


def every_address(raw: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of any address header, by the standard library's whole grammar."""
    try:
        return getaddresses([raw])
    except (ValueError, IndexError, TypeError):  # older getaddresses raises on some malformed lists
        return []


def simple_address(raw: str) -> tuple[str, str] | None:
    """(display name, address) of a header holding one address in a common form; None for anything else."""
    m = _SIMPLE_ADDRESS.fullmatch(raw)
    if m is None:
        return None
    if m["bare"] is not None:
        return "", m["bare"]
    display = m["quoted"] if m["quoted"] is not None else " ".join((m["plain"] or "").split())
    return display, m["addr"]


class Headers:
    """Raw header values by lower-cased name, unfolded, in message order; decoding on demand."""

    def __init__(self, msg: Message, hint: str | None = None) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            raw = value if isinstance(value, str) else str(value)
            self.raw.setdefault(name.strip().lower(), []).append(_FOLD.sub("", raw))
        self.hint = hint
        self.notes: list[str] = []

    def all(self, name: str) -> list[str]:
        """Every value of a header, RFC 2047-decoded and whitespace-collapsed."""
        values = []
        for raw in self.raw.get(name, ()):
            text, notes = decode_words(raw, self.hint)
            if notes:
                self.notes.extend(f"{name}: {n}" for n in notes)
            values.append(_SPACES.sub(" ", text).strip())
        return values

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def has(self, name: str) -> bool:
        return name in self.raw

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        """(display name, address as written) for every address in the named headers."""
        found: list[tuple[str, str]] = []
        for name in names:
            for raw in self.raw.get(name, ()):
                found.extend(self._parse_addresses(name, raw))
        return found

    def _parse_addresses(self, name: str, raw: str) -> list[tuple[str, str]]:
        # Parsed before decoding: a decoded display name may hold the commas and brackets that delimit addresses.
        simple = simple_address(raw)
        return self.named(name, raw, [simple] if simple is not None else every_address(raw))

    def named(self, name: str, raw: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """(display name, address) from a header's parsed pairs: decoded, and salvaged when there are none."""
        result = []
        for display, addr in pairs:
            addr = _SPACES.sub("", decode_words(addr, self.hint)[0]).strip("<>")
            if not addr:
                continue
            text, notes = decode_words(display, self.hint)
            self.notes.extend(f"{name}: {n}" for n in notes)
            result.append((_SPACES.sub(" ", text).strip().strip("\"'").strip(), addr))
        if not result:
            # getaddresses gives nothing (or ('', '')) for lists it cannot parse: salvage what looks like addresses.
            result = [("", a) for a in re.findall(r"[^\s<>\"',;:()]+@[^\s<>\"',;:()]+", raw)]
        return result


_MSGID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def message_ids(value: str | None) -> list[str]:
    """Message ids without <>, in order, deduplicated; tolerant of missing brackets and comments."""
    if not value:
        return []
    ids = _MSGID.findall(value)
    if not ids:
        ids = [t for t in re.split(r"[\s,]+", re.sub(r"\([^()]*\)", " ", value)) if "@" in t]
    seen: dict[str, None] = {}
    for msgid in ids:
        seen.setdefault(msgid.strip("<>"), None)
    return [i for i in seen if i]


def parse_date(value: str | None) -> datetime | None:
    """A Date header in UTC; a date without a zone is taken as UTC; junk is None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# Reply and forward prefixes in the languages of the district's families and the clients they use
# (Outlook localizes them; Zammad #5287). "Re[2]:" and "RE :" (French spacing) included.
_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:re|fwd?|aw|wg|sv|vs|rv|antw|antwort|rif|r|enc|tr|odp|ynt|ref|réf|res|doorst|vl|tl)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]"
    r"|回复\s*[:\uff1a]|答复\s*[:\uff1a]|转发\s*[:\uff1a]|回覆\s*[:\uff1a]|轉寄\s*[:\uff1a]|轉發\s*[:\uff1a]"
    r"|trả\s+lời\s*[:\uff1a]|chuyển\s+tiếp\s*[:\uff1a]"
    r"|\[#[\w-]+\]"
    r")\s*",
    re.IGNORECASE,
)
_TAG = re.compile(r"\[#([A-Za-z0-9][\w-]{0,31})\]")


def strip_subject_prefixes(subject: str) -> str:
    """'RE: AW: [#1234] Fwd: Bus' -> 'Bus': reply/forward prefixes (repeated, localized) and ticket tags."""
    previous = None
    subject = _SPACES.sub(" ", subject).strip()
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject, count=1)
    return _SPACES.sub(" ", _TAG.sub(" ", subject)).strip()


def subject_token(subject: str) -> str | None:
    """'[#1234] Re: bus' -> '1234'."""
    match = _TAG.search(subject)
    return match.group(1) if match else None


_PLUS = re.compile(r"^[^+@]+\+([A-Za-z0-9][A-Za-z0-9_-]{0,63})@")


def plus_token(addresses: Iterable[str]) -> str | None:
    """The +TOKEN of the first address that has one (help+K7QM2XPA@district.org -> 'K7QM2XPA')."""
    for addr in addresses:
        match = _PLUS.match(addr)
        if match:
            return match.group(1)
    return None
