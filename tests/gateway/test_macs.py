"""The prepared HMAC gives exactly what the standard library's HMAC gives."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from gateway.macs import Sha256Mac, mac_for


@given(st.binary(max_size=200), st.binary(max_size=5000))
def test_prepared_mac_matches_hmac_for_any_key_and_message(key: bytes, message: bytes) -> None:
    assert Sha256Mac(key).digest(message) == hmac.digest(key, message, "sha256")


def test_rfc_4231_test_case_2() -> None:
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert mac_for(b"Jefe").digest(b"what do ya want for nothing?").hex() == expected


def test_one_prepared_mac_serves_many_messages() -> None:
    mac = mac_for(b"k" * 100)  # longer than a block: hashed first, as RFC 2104 says
    for message in (b"", b"a", b"b" * 70):
        assert mac.digest(message) == hmac.digest(b"k" * 100, message, "sha256")
