"""OAuth 1.0a request signing (HMAC-SHA1, RFC 5849), as X documents it in "Creating a signature".

The signature base string is the method, the percent-encoded base URL and the percent-encoded, sorted
parameters (the request's query and form parameters with the oauth_* ones; a JSON body is not part of
it); the key is the consumer secret and the token secret, each percent-encoded, joined by `&`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import quote, urlsplit


def pct(value: str) -> str:
    """RFC 3986 percent-encoding: only unreserved characters stay as they are."""
    return quote(value, safe="-._~")


def signature(method: str, url: str, params: dict[str, str], consumer_secret: str, token_secret: str) -> str:
    parts = urlsplit(url)
    base_url = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    pairs = sorted((pct(k), pct(v)) for k, v in params.items())
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), pct(base_url), pct(normalized)))
    key = f"{pct(consumer_secret)}&{pct(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode("ascii")


def authorization(
    method: str,
    url: str,
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    params: dict[str, str] | None = None,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """The `Authorization: OAuth ...` header value for one request."""
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    oauth["oauth_signature"] = signature(method, url, {**(params or {}), **oauth}, consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{pct(k)}="{pct(v)}"' for k, v in sorted(oauth.items()))
