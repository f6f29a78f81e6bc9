"""Phone numbers as the district's families really write them, read with libphonenumber's rules."""

from __future__ import annotations

import pytest

from normalizers.phone import PhoneRules, is_e164, to_e164

DISTRICT = PhoneRules("1", ["MX", "GT", "VN", "CN"])  # a district whose families often come from these

WRITTEN = [
    # United States, with extensions and every punctuation
    ("(512) 555-0123 ext. 4", "+15125550123"),
    ("512-555-0123 x12", "+15125550123"),
    ("512.555.0123", "+15125550123"),
    ("+1 (512) 555-0123", "+15125550123"),
    ("1-512-555-0123", "+15125550123"),
    # Mexico: with its +, without it, as dialled from the US (011), and as written at home
    ("+52 55 1234 5678", "+525512345678"),
    ("52 55 1234 5678", "+525512345678"),
    ("011 52 55 1234 5678", "+525512345678"),
    # Guatemala
    ("+502 5555 1234", "+50255551234"),
    ("502 5555 1234", "+50255551234"),
    ("5555-1234", "+50255551234"),
    # Vietnam
    ("+84 90 123 4567", "+84901234567"),
    ("0084 90 123 4567", "+84901234567"),
    ("84 90 123 4567", "+84901234567"),
    ("090 123 4567", "+84901234567"),
    # China
    ("+86 138 0013 8000", "+8613800138000"),
    ("86 138 0013 8000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
]


@pytest.mark.parametrize(("raw", "e164"), WRITTEN)
def test_a_familys_number_is_read_as_they_meant_it(raw: str, e164: str) -> None:
    assert DISTRICT.e164(raw) == e164


def test_without_other_regions_a_local_foreign_number_is_refused_not_guessed() -> None:
    assert to_e164("090 123 4567") is None  # no real number of the US, none with a + put back
    assert to_e164("52 55 1234 5678") == "+525512345678"  # but a country code written without its + is read


def test_a_number_real_at_home_is_read_at_home_and_a_fictional_one_too() -> None:
    assert DISTRICT.e164("55 1234 5678") == "+15512345678"  # a New Jersey number, though it looks like CDMX
    assert to_e164("(555) 201-0102") == "+15552010102"  # the 555 numbers of examples and tests


@pytest.mark.parametrize("raw", ["", "hello", "12345", "+1 555", "call me at 512", "555-0123-ABC", "9" * 41])
def test_what_cannot_be_a_number_is_none(raw: str) -> None:
    assert DISTRICT.e164(raw) is None


def test_what_carriers_send_is_checked_as_e164() -> None:
    assert is_e164("+15555550123") and is_e164("+525512345678")
    assert not is_e164("Anonymous") and not is_e164("15555550123") and not is_e164("+12")
