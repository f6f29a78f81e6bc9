"""Phone numbers to E.164: pure, no network."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")


def to_e164(raw: str, default_country: str = "1") -> str | None:
    """'(555) 123-4567' -> '+15551234567'. None when it cannot be a phone number."""
    raw = raw.strip()
    if not raw or re.search(r"[^\d\s().+-]", raw):
        return None
    digits = "".join(_DIGITS.findall(raw))
    if raw.startswith("+"):
        candidate = digits
    elif raw.startswith("00"):
        candidate = digits[2:]
    elif default_country == "1" and len(digits) == 11 and digits.startswith("1"):
        candidate = digits
    else:
        candidate = default_country + digits
    if not 8 <= len(candidate) <= 15 or candidate.startswith("0"):
        return None
    if default_country == "1" and candidate.startswith("1") and len(candidate) != 11:
        return None
    return "+" + candidate
