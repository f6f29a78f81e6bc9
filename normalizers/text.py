"""Text cleanup shared by every channel's normalizer: pure functions."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n{3,}")
_PRIMARY = re.compile(r"[a-z]{2,3}")


def clean_text(value: str) -> str:
    """NFC, no control characters, unified newlines, no runs of blank lines, trimmed."""
    if value.isascii() and value.isprintable():  # one line of plain text: only the trimming applies
        return value.strip()
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return _BLANK_LINES.sub("\n\n", value).strip()


def primary_language(tag: str | None) -> str | None:
    """'es-MX' -> 'es'; None or junk -> None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if _PRIMARY.fullmatch(primary) else None
