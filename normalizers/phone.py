"""Phone numbers to E.164 with libphonenumber's rules (the `phonenumbers` package): pure, no network.

Families write numbers every way there is: `(512) 555-0123 ext. 4`, `512.555.0123`, `+52 55 1234 5678`,
`52 55 1234 5678` (a Mexican mobile without its `+`), `0084 90 123 4567`, or a Vietnamese `090 123 4567`
with no country code at all. A number is read, in order:
1. written internationally (`+`, `00` or `011` first): as written;
2. as a number of the district's own country (`default_country`, a calling code such as `1`), when
   libphonenumber knows it for a real number there;
3. as an international number whose `+` was left out (`52 55 1234 5678`), when that is a real number;
4. as a number of each region in `regions` (ISO codes such as `MX`, `VN`), in order, when it is real there;
5. as a number of the district's country that has a possible length (fictional `555` numbers included).
A 10-digit number that is real in the district's country is read there: with the United States as home,
`55 1234 5678` is a New Jersey number, not Mexico City, so families abroad are asked for the country code.
An extension (`ext. 4`, `x4`) is not part of E.164: it is dropped. None when it cannot be a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

_INTERNATIONAL = re.compile(r"^\s*(\+|00|011)")
_ALLOWED = re.compile(r"^[\d\s().+\-/]*(\s*(ext\.?|extension|x|#)\s*\d{1,6})?\s*$", re.IGNORECASE)


def _parse(raw: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except NumberParseException:
        return None


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@lru_cache(maxsize=64)
def region_for(calling_code: str) -> str:
    """`1` -> `US`: the main region of a calling code (settings name the district's country by its code)."""
    known = calling_code.isascii() and calling_code.isdigit() and len(calling_code) <= 3  # int() refuses '²'
    return phonenumbers.region_code_for_country_code(int(calling_code)) if known else "US"


def to_e164(raw: str, default_country: str = "1", regions: Sequence[str] = ()) -> str | None:
    """'(555) 123-4567' -> '+15551234567'. None when it cannot be a phone number."""
    raw = raw.strip()
    if not raw or len(raw) > 40 or not _ALLOWED.match(raw) or not any(c.isdigit() for c in raw):
        return None
    if _INTERNATIONAL.match(raw):
        written = re.sub(r"^\s*(00|011)", "+", raw)
        number = _parse(written, None)
        return _e164(number) if number is not None and phonenumbers.is_possible_number(number) else None
    home = region_for(default_country)
    local = _parse(raw, home)
    if local is not None and phonenumbers.is_valid_number(local):
        return _e164(local)
    plus = _parse("+" + raw, None)
    if plus is not None and phonenumbers.is_valid_number(plus):
        return _e164(plus)
    for region in regions:
        there = _parse(raw, region.upper())
        if there is not None and phonenumbers.is_valid_number(there):
            return _e164(there)
    # Last, a number of the right length for the district's own country (the fictional 555 numbers of
    # examples and tests), unless it starts with a 0, which no such number does.
    if local is not None and phonenumbers.is_possible_number(local) and not local.italian_leading_zero:
        return _e164(local)
    return None


@lru_cache(maxsize=4096)
def is_e164(value: str) -> bool:
    """A number already in E.164 (what carriers send) that libphonenumber finds possible."""
    if not value.startswith("+") or not value[1:].isdigit():
        return False
    number = _parse(value, None)
    return number is not None and phonenumbers.is_possible_number(number)


class PhoneRules:
    """How this district reads numbers written without a country code: its own country, then other regions."""

    __slots__ = ("country", "regions")

    def __init__(self, country: str = "1", regions: Sequence[str] = ()) -> None:
        self.country = country
        self.regions = tuple(r.upper() for r in regions)

    def e164(self, raw: str) -> str | None:
        return to_e164(raw, self.country, self.regions)


US = PhoneRules("1")
