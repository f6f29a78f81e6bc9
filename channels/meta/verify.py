"""Meta's webhook security: the subscription handshake, and `X-Hub-Signature-256` over the raw bytes.

Meta signs the body exactly as it sends it, with non-ASCII characters escaped (`\\u00e9`): the HMAC is
computed over the received bytes, never over JSON parsed and serialized again (which would write `é`).
Nothing is parsed before the signature holds; a missing signature is 401, a wrong one 403, and
nothing is stored either way.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.errors import Forbidden, Unauthorized
from gateway.server.http import AckResponse

PREFIX = "sha256="


def expected_signature(secret: bytes, raw_body: bytes) -> str:
    return PREFIX + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()


def check_signature(secret: bytes, raw_body: bytes, header: str | None) -> None:
    """Raise unless `header` is the app secret's HMAC-SHA256 of these exact bytes."""
    if not header:
        raise Unauthorized("missing X-Hub-Signature-256")
    given = header.strip().lower()
    if not given.startswith(PREFIX) or not hmac.compare_digest(
        given.encode(), expected_signature(secret, raw_body).encode()
    ):
        raise Forbidden("invalid X-Hub-Signature-256")


def handshake(query: dict[str, str], verify_token: bytes) -> AckResponse:
    """`GET /hooks/meta`: echo `hub.challenge` only for a subscribe request carrying our verify token."""
    token = query.get("hub.verify_token", "").encode()
    if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(token, verify_token):
        raise Forbidden("the verify token does not match")
    challenge = query.get("hub.challenge", "")
    if not challenge or len(challenge) > 200:
        raise Forbidden("no challenge to answer")
    return AckResponse(status=200, body=challenge.encode(), content_type="text/plain")
