"""Bytes and header words -> text, whatever the charset label claims. Pure; never raises on bad input."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass
from functools import lru_cache

# Labels seen in real mail that Python does not know, or knows as a narrower codec than senders mean.
# The supersets matter: "gb2312" mail is GBK in practice, "ks_c_5601-1987" is Outlook's name for cp949.
_ALIASES = {
    "utf8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "euc_kr": "cp949",
    "korean": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "iso2022_jp": "iso2022_jp_2",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-8-e": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-6-e": "iso8859-6",
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    # As browsers do (WHATWG): mail labelled Latin-1 is Windows-1252 in practice (curly quotes, euro sign).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "x-mac-roman": "mac-roman",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that name no charset at all: treated as undeclared.
_NON_LABELS = {"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "charset", "none", "8bit"}
# Text codecs that no mail client sends and that turn bytes into something other than what they say.
_REFUSED = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
_FALLBACKS = ("utf-8", "cp1252", "latin-1")


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str  # the codec actually used
    note: str | None  # why the declared charset was not used (for diagnostics); None when it held


def codec_for(label: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when the label is absent or unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower().split("*", 1)[0]  # RFC 2231 "utf-8*en" carries a language
    if name in _NON_LABELS or not re.fullmatch(r"[a-z0-9._:+-]{1,40}", name):
        return None
    name = _ALIASES.get(name, name)
    for candidate in (name, name.removeprefix("x-"), name.replace("_", "-")):
        try:
            name = codecs.lookup(candidate).name
            # bytes.decode refuses bytes-to-bytes codecs (zlib, rot13) with a LookupError: they are not charsets.
            b"\0\0\0\0".decode(candidate)
        except LookupError:
            continue
        except ValueError:
            pass
        return None if name in _REFUSED else _ALIASES.get(name, name)
    return None


@lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    return len(bytes(range(256)).decode(codec, "replace")) == 256


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, declared: str | None) -> Decoded:
    """Declared charset (aliases applied) -> UTF-8 -> Windows-1252 -> Latin-1, which cannot fail."""
    codec = codec_for(declared)
    ascii_only = data.isascii()
    if declared and codec is None and not ascii_only:
        note: str | None = f"unknown charset {declared.strip()!r}"
    elif not declared and not ascii_only:
        note = "no charset declared"
    else:
        note = None
    if codec:
        try:
            text = data.decode(codec)
        except (ValueError, LookupError):
            note = f"declared {declared!r} does not fit the bytes"
        else:
            # Valid multi-byte UTF-8 is practically never the accident of a single-byte charset: it is mislabelled.
            if not ascii_only and codec != "utf-8" and _single_byte(codec) and _is_utf8(data):
                return Decoded(data.decode("utf-8"), "utf-8", f"declared {declared!r} but the bytes are utf-8")
            return Decoded(text, codec, None)
    for fallback in _FALLBACKS:
        if fallback == codec:
            continue
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        return Decoded(text, fallback, f"{note}; decoded as {fallback}" if note else None)
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def raw_header_text(value: str, hint: str | None = None) -> tuple[str, str | None]:
    """A header value as the parser gave it (8-bit bytes kept as surrogates) -> real text.

    Raw 8-bit headers are UTF-8 (RFC 6532) or, from old clients, the charset of the body (the hint).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
        if _is_utf8(data):
            return data.decode("utf-8"), None
        decoded = decode_bytes(data, hint)
        return decoded.text, f"raw 8-bit header decoded as {decoded.charset}"
    return value, None


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=_-]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*?)\?=")


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    if encoding in "bB":
        cleaned = _NOT_BASE64.sub("", payload).rstrip("=")
        cleaned = cleaned.replace("-", "+").replace("_", "/")  # some encoders use the URL-safe alphabet
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]  # a stray final character carries no whole byte
        try:
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return None
    try:
        return binascii.a2b_qp(payload.encode("ascii", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str, hint: str | None = None) -> tuple[str, list[str]]:
    """RFC 2047 encoded-words -> text, leniently: words split mid-character, missing spaces, unknown charsets.

    Returns the text and diagnostics for each word whose charset was unknown or wrong.
    """
    notes: list[str] = []
    text, note = raw_header_text(value, hint)
    if note:
        notes.append(note)
    if "=?" not in text:
        return text, notes  # no encoded word (most headers): nothing more to do
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    last_end = 0
    last_was_word = False

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            decoded = decode_bytes(bytes(pending), pending_charset)
            out.append(decoded.text)
            if decoded.note:
                notes.append(f"encoded word: {decoded.note}")
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        gap = text[last_end : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            continue  # left in place as literal text by the gap handling below
        if gap and not (last_was_word and not gap.strip()):  # whitespace between two words is not content
            flush()
            out.append(gap)
        charset = match.group(1)
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        # Joined before decoding: encoders split multi-byte characters across adjacent words.
        pending += data
        pending_charset = charset
        last_end = match.end()
        last_was_word = True
    flush()
    out.append(text[last_end:])
    return "".join(out), notes
