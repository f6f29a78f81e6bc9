"""CSRF tokens for the web form: signed, timestamped, and bound to a random cookie of the browser.

The cookie holds a random binding secret that a cross-site page can neither read nor set. Each page
load gets its own random nonce; the hidden token carries that nonce and a timestamp, signed together
with the cookie's secret. The nonce is the submission's idempotency key: a double-click or a resubmit
of the same page load commits one request, while a new page load (or a second tab) is a new request.
The cookie is reused across page loads so that two open tabs do not invalidate each other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

COOKIE = "intake_form"
MAX_AGE_S = 2 * 3600
# A token dated slightly ahead is clock skew between web processes behind a load balancer, not an attack.
FUTURE_SKEW_S = 300
_RANDOM = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


class Check(Enum):
    OK = "ok"
    EXPIRED = "expired"  # genuine, from this browser, but too old: safe to show the values again
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    check: Check
    nonce: str = ""


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def well_formed(value: str) -> bool:
    return _RANDOM.fullmatch(value) is not None


def _sig(key: bytes, cookie: str, nonce: str, ts: int) -> str:
    msg = f"csrf\x1f{cookie}\x1f{nonce}\x1f{ts}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode().rstrip("=")


def issue(key: bytes, cookie: str, now: float, nonce: str | None = None) -> str:
    """A token for one page load (a fresh nonce unless one is given) bound to the browser's cookie."""
    nonce = nonce or secrets.token_urlsafe(18)
    ts = int(now)
    return f"{nonce}.{ts}.{_sig(key, cookie, nonce, ts)}"


def verify(key: bytes, cookie: str, token: str, now: float, max_age: int = MAX_AGE_S) -> Verdict:
    """OK or EXPIRED with the page's nonce, or INVALID; an empty cookie or token is INVALID."""
    if not well_formed(cookie) or len(token) > 200:
        return Verdict(Check.INVALID)
    parts = token.split(".")
    # ASCII digits only: isdigit() also takes '²', which int() refuses.
    if len(parts) != 3 or not well_formed(parts[0]) or not (parts[1].isascii() and parts[1].isdigit()):
        return Verdict(Check.INVALID)
    nonce, ts_text, sig = parts
    ts = int(ts_text)
    if not hmac.compare_digest(sig.encode(), _sig(key, cookie, nonce, ts).encode()):
        return Verdict(Check.INVALID)
    if ts > now + FUTURE_SKEW_S:
        return Verdict(Check.INVALID)
    if now - ts > max_age:
        return Verdict(Check.EXPIRED, nonce)
    return Verdict(Check.OK, nonce)
