"""Property tests of phone numbers: whatever a family types is an E.164 number or None, never an exception; a number
written internationally reads as itself, however it is spaced."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import example, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from normalizers.phone import PhoneRules, is_e164, region_for, to_e164
from tests.normalizers.fuzzing import FUZZ, ODD_STRINGS

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# What people type around the digits, and digits of other scripts (fullwidth, Arabic-Indic, superscript).
PHONE_CHARS = st.sampled_from([*"0123456789 +-().x#/", "ext.", "00", "011", "２", "٣", "²", "\u00a0"])
TYPED = st.lists(PHONE_CHARS, max_size=25).map("".join)
COUNTRIES = st.sampled_from(["1", "52", "84", "86", "502", "44", "0", "", "²", "9" * 5000]) | st.text(max_size=4)
REGIONS = st.lists(st.sampled_from(["MX", "VN", "CN", "GT", "US", "ZZ", "", "xx"]), max_size=3)
# One real number of every region libphonenumber knows, by region code.
EXAMPLES = {r: n for r in sorted(phonenumbers.SUPPORTED_REGIONS) if (n := phonenumbers.example_number(r)) is not None}


@FUZZ
@given(TYPED | st.text(max_size=45) | ODD_STRINGS, COUNTRIES, REGIONS)
@example("512 555 0123", "²", [])  # a calling code of '²' passes isdigit() and crashed int()
@example("512 555 0123", "9" * 5000, [])
def test_anything_typed_is_an_e164_number_or_none(raw: str, country: str, regions: list[str]) -> None:
    found = PhoneRules(country, regions).e164(raw)
    if found is None:
        return
    assert E164.fullmatch(found)
    assert is_e164(found)
    assert to_e164(found, country, regions) == found  # E.164 reads as itself


@FUZZ
@given(st.text(max_size=8) | ODD_STRINGS)
@example("²")
def test_any_calling_code_names_a_region(code: str) -> None:
    assert isinstance(region_for(code), str)


@FUZZ
@given(st.text(max_size=20) | ODD_STRINGS | TYPED)
def test_anything_a_carrier_sends_is_e164_or_not(value: str) -> None:
    assert is_e164(value) in (True, False)


@FUZZ
@given(st.sampled_from(sorted(EXAMPLES)), st.sampled_from(["", " ", "-", "."]), st.sampled_from(["+", "00", "011"]))
def test_a_number_written_internationally_reads_as_itself(region: str, separator: str, prefix: str) -> None:
    number = EXAMPLES[region]
    written = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL).replace(" ", separator)
    written = prefix + written.removeprefix("+")
    assert to_e164(written, "1", ("MX", "VN")) == phonenumbers.format_number(number, PhoneNumberFormat.E164)
