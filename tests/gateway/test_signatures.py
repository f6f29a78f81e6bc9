"""The timestamped signature header (`t=<unix>,v1=<hex>`): its shapes, its MAC, its freshness."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway import signatures
from gateway.macs import Sha256Mac

SECRET = b"whsec-test-0b1c"
BODY = '{"message": "¿Llegó el autobús?"}'.encode()
T = 1_767_225_600


def test_the_signature_is_the_hmac_of_the_timestamp_a_dot_and_the_body() -> None:
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signatures.sign(SECRET, BODY, T + 0.9) == f"t={T},v1={expected}"


def test_a_header_with_several_signatures_matches_on_any_of_them() -> None:
    good = signatures.sign(SECRET, BODY, T).split("v1=")[1]
    stamped = signatures.parse(f"t={T}, v1={'0' * 64}, v0=ignored, v1={good.upper()}")
    assert stamped is not None
    assert signatures.matches(Sha256Mac(SECRET), stamped, BODY)
    assert not signatures.matches(Sha256Mac(SECRET), stamped, BODY + b" ")


@pytest.mark.parametrize(
    "header",
    ["", f"t={T}", "v1=" + "a" * 64, f"t={T},t={T},v1={'a' * 64}", f"t=-{T},v1={'a' * 64}", f"t={T},v1=abc",
     f"t={T},v1", f"t=1e9,v1={'a' * 64}", f"t={'9' * 13},v1={'a' * 64}", f"t={T}," + ",".join(["v1=" + "a" * 64] * 20)],
)  # fmt: skip
def test_headers_of_another_shape_are_not_signatures(header: str) -> None:
    assert signatures.parse(header) is None


def test_a_timestamp_more_than_five_minutes_away_is_not_fresh() -> None:
    stamped = signatures.parse(signatures.sign(SECRET, BODY, T))
    assert stamped is not None
    assert signatures.fresh(stamped, T + 300) and signatures.fresh(stamped, T - 300)
    assert not signatures.fresh(stamped, T + 301) and not signatures.fresh(stamped, T - 301)
