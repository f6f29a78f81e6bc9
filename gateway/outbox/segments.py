"""How many SMS segments a text costs (3GPP TS 23.038): GSM-7 160/153, UCS-2 70/67.

One character outside the GSM-7 alphabet makes the whole message UCS-2. Characters of the GSM-7
extension table (escape + char) take two septets. UCS-2 counts UTF-16 code units, so an emoji costs two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> Segments:
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        encoding = "UCS-2"
    if units == 0:
        return Segments(encoding, 0, 0)
    if units <= SINGLE[encoding]:
        return Segments(encoding, units, 1)
    per = MULTI[encoding]
    return Segments(encoding, units, -(-units // per))


def within_budget(text: str, gsm7_segments: int = 1, ucs2_segments: int = 2) -> bool:
    """The templates' budget: one GSM-7 segment, or two UCS-2 segments for languages that need UCS-2."""
    s = count_segments(text)
    return 0 < s.count <= (gsm7_segments if s.encoding == "GSM-7" else ucs2_segments)
