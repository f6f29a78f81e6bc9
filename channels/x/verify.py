"""X's webhook security: the CRC check, and `x-twitter-webhooks-signature` over the raw body.

Both are a base64 HMAC-SHA256 with the app's consumer secret, written `sha256=<base64>`: of the
`crc_token` X sends with `GET /hooks/x` (answered as `{"response_token": ...}`), and of every POST's
exact bytes. Nothing is parsed before the signature holds; missing is 401, wrong is 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from gateway.errors import BadRequest, Forbidden, Unauthorized
from gateway.server.http import AckResponse

PREFIX = "sha256="


def sign(secret: bytes, data: bytes) -> str:
    return PREFIX + base64.b64encode(hmac.new(secret, data, hashlib.sha256).digest()).decode("ascii")


def crc_response(secret: bytes, query: dict[str, str]) -> AckResponse:
    token = query.get("crc_token", "")
    if not token or len(token) > 200:
        raise BadRequest("crc_token is missing")
    return AckResponse.json({"response_token": sign(secret, token.encode())})


def check_signature(secret: bytes, raw_body: bytes, header: str | None) -> None:
    if not header:
        raise Unauthorized("missing x-twitter-webhooks-signature")
    if not hmac.compare_digest(header.strip().encode(), sign(secret, raw_body).encode()):
        raise Forbidden("invalid x-twitter-webhooks-signature")
