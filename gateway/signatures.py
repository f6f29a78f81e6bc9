"""Timestamped request signatures, Stripe-style: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The timestamp is inside the MAC, so a captured request can be replayed only while it is fresh; the
receiver refuses one more than TOLERANCE_S away from its clock. The same header shape serves every
signed post we take (the JSON intake) and send (the generic ticket webhook in DESIGN.md).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from gateway.macs import Sha256Mac, mac_for

TOLERANCE_S = 300
SCHEME = "v1"
_HEX = frozenset("0123456789abcdef")
MAX_HEADER = 1024  # a timestamp and a few signatures (several during a secret rotation)


@dataclass(frozen=True, slots=True)
class Stamped:
    """A parsed header: the signed timestamp and every v1 signature it carries (other schemes ignored)."""

    timestamp: int
    signatures: tuple[bytes, ...]


def parse(header: str) -> Stamped | None:
    """The header's timestamp and v1 signatures, or None when it is not of that shape."""
    if not header or len(header) > MAX_HEADER:
        return None
    timestamp: int | None = None
    found: list[bytes] = []
    for item in header.split(","):
        name, eq, value = item.partition("=")
        if not eq:
            return None
        name = name.strip()
        if name == "t":
            value = value.strip()
            if timestamp is not None or not value.isascii() or not value.isdigit() or len(value) > 12:
                return None
            timestamp = int(value)
        elif name == SCHEME:
            value = value.strip().lower()
            if len(value) == 64 and _HEX.issuperset(value):
                found.append(value.encode())
    if timestamp is None or not found:
        return None
    return Stamped(timestamp, tuple(found))


def signature(mac: Sha256Mac, timestamp: int, body: bytes) -> bytes:
    """The hex v1 signature of `body` at `timestamp` (the MAC over `<t>.<body>`, hashed without a copy)."""
    return mac.digest_parts(str(timestamp).encode(), b".", body).hex().encode()


def matches(mac: Sha256Mac, stamped: Stamped, body: bytes) -> bool:
    expected = signature(mac, stamped.timestamp, body)
    # Every candidate is compared, in constant time each: a rotation may send the old and the new signature.
    return any([hmac.compare_digest(expected, s) for s in stamped.signatures])


def fresh(stamped: Stamped, now: float, tolerance: int = TOLERANCE_S) -> bool:
    return abs(now - stamped.timestamp) <= tolerance


def sign(secret: bytes, body: bytes, now: float) -> str:
    """The header value a sender puts in `X-Intake-Signature` (for clients, tests and the benchmark)."""
    t = int(now)
    return f"t={t},{SCHEME}={signature(mac_for(secret), t, body).decode()}"
