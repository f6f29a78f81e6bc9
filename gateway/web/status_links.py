"""Signed, unguessable links to a requester's status page: no login, nothing to enumerate."""

from __future__ import annotations

import base64
import hmac
from urllib.parse import urlsplit

from gateway.errors import NotFound
from gateway.macs import mac_for
from gateway.settings import Settings


def _sig(key: bytes, request_id: str) -> str:
    mac = mac_for(key).digest(b"status\x1f" + request_id.encode())[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_token(key: bytes, request_id: str) -> str:
    return f"{request_id}.{_sig(key, request_id)}"


def read_token(key: bytes, token: str) -> str:
    """The request id a token was issued for; NotFound for anything forged or malformed."""
    request_id, _, sig = token.partition(".")
    if not request_id or not sig or not hmac.compare_digest(sig, _sig(key, request_id)):
        raise NotFound("no such request")
    return request_id


def status_url(base_url: str, key: bytes, request_id: str) -> str:
    return f"{base_url.rstrip('/')}/status/{make_token(key, request_id)}"


def short_reference(request_id: str) -> str:
    """What a family reads aloud on the phone: 8 characters of the id's random part."""
    tail = request_id[10:18]
    return f"{tail[:4]}-{tail[4:]}"


def public_base(settings: Settings) -> str:
    """Where requesters reach us: the configured public URL, else the local listener."""
    if settings.server.public_base_url:
        return settings.server.public_base_url.rstrip("/")
    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{settings.server.port}"


# Names a Host header may use for this machine itself: a link to them leads nowhere but the reader's own computer.
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ANY = {"0.0.0.0", "::", ""}  # noqa: S104


def link_base(settings: Settings, origin: str) -> str | None:
    """The base of a status link for a request that came to `origin` (scheme://host[:port], from its Host
    header), or None when that host is not one we were configured as.

    With `server.public_base_url` set, that is the base, whatever the request said. Without it, the request's
    own origin is used only when it names this listener (`server.host`, on `server.port`) or loopback: a
    Host header is the caller's to write, and a link built from any other would send a requester's key
    to a host of the caller's choosing."""
    if settings.server.public_base_url:
        return settings.server.public_base_url.rstrip("/")
    try:
        parts = urlsplit(origin)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    own = settings.server.host.lower()
    if host in _LOOPBACK or (own not in _ANY and host == own and settings.server.port in (0, port)):
        return origin.rstrip("/")
    return None
