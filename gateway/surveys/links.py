"""The one-click rating links of a survey: signed, each for one rating, good until the survey expires.

A link is `<conversation>.<rating>.<expires, epoch s>.<signature>`, HMAC-SHA256 over all three with the gateway's
secret key. It carries no person's name, address or number. Using it once is enforced by the survey's record (one
answer per survey), not by the link: every link of a survey stops working when any one of them was used.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import datetime

from gateway.macs import mac_for
from gateway.surveys.record import RATINGS

PATH = "/survey/"


class LinkRefused(ValueError):
    """Why a link cannot be used: `reason` is forged, expired or rating."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RatingLink:
    conversation: str
    rating: int
    expires: int


def _sig(key: bytes, conversation: str, rating: str, expires: str) -> str:
    mac = mac_for(key).digest(b"survey\x1f" + f"{conversation}\x1f{rating}\x1f{expires}".encode())[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_token(key: bytes, conversation: str, rating: int, expires: datetime) -> str:
    when = str(int(expires.timestamp()))
    return f"{conversation}.{rating}.{when}.{_sig(key, conversation, str(rating), when)}"


def read_token(key: bytes, token: str, now: datetime) -> RatingLink:
    """The rating a link stands for. LinkRefused("forged") for anything we did not sign (or any change to it),
    "expired" past its survey's end, "rating" for a signed rating outside 1-5."""
    parts = token.split(".")
    if len(parts) != 4 or not all(parts):
        raise LinkRefused("forged")
    conversation, rating, expires, sig = parts
    if not hmac.compare_digest(sig, _sig(key, conversation, rating, expires)):
        raise LinkRefused("forged")
    if not rating.isdigit() or int(rating) not in RATINGS:
        raise LinkRefused("rating")
    if not expires.isdigit() or now.timestamp() >= int(expires):
        raise LinkRefused("expired")
    return RatingLink(conversation, int(rating), int(expires))


def rating_links(base_url: str, key: bytes, conversation: str, expires: datetime) -> list[dict[str, str | int]]:
    """One link per rating, 5 (the best) first, as the templates list them."""
    base = base_url.rstrip("/") + PATH
    return [{"rating": n, "url": base + make_token(key, conversation, n, expires)} for n in reversed(RATINGS)]
