"""Gateway ids: the ULID layout (sortable by time), and the fingerprint that dedupes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.ids import _b32, fingerprint, new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_b32(value: int, length: int) -> str:
    digits = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        digits.append(CROCKFORD[rem])
    return "".join(reversed(digits))


def test_id_time_part_matches_the_ulid_specification_example() -> None:
    # The ULID specification's example: 1469918176385 ms encodes as 01ARYZ6S41.
    assert new_id(now=1469918176.385)[:10] == "01ARYZ6S41"


def test_ids_are_26_crockford_characters_and_sort_by_time() -> None:
    earlier, later = new_id(now=1_700_000_000.000), new_id(now=1_700_000_000.001)
    assert len(earlier) == len(later) == 26
    assert set(earlier + later) <= set(CROCKFORD)
    assert earlier < later


def test_ids_made_in_the_same_millisecond_differ() -> None:
    assert len({new_id(now=1_700_000_000.0) for _ in range(5000)}) == 5000


@given(st.integers(min_value=0, max_value=2**130 - 1), st.integers(min_value=1, max_value=26))
def test_encoder_agrees_with_digit_by_digit_base32(value: int, length: int) -> None:
    assert _b32(value, length) == reference_b32(value, length)


def test_fingerprint_uses_the_provider_id_when_there_is_one() -> None:
    a = fingerprint("sms", "+15550001111", "SM1", b"body one")
    assert a == fingerprint("sms", "+15550001111", "SM1", b"body two")
    assert a != fingerprint("sms", "+15550002222", "SM1", b"body one")
    assert fingerprint("webform", "web", None, b"x") != fingerprint("webform", "web", None, b"y")
