"""Gateway-assigned identifiers: sortable by time, unguessable, URL-safe."""

from __future__ import annotations

import hashlib
import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


_POOL_BYTES = 4096
_pool = b""
_pool_lock = threading.Lock()


def _random10() -> bytes:
    """Ten random bytes from a pool refilled 4 KiB at a time: one os.urandom call per 400 ids, because
    each call releases the interpreter lock and a busy request loop then waits to get it back."""
    global _pool
    with _pool_lock:
        if len(_pool) < 10:
            _pool = os.urandom(_POOL_BYTES)
        out, _pool = _pool[:10], _pool[10:]
    return out


def new_id(now: float | None = None) -> str:
    """A ULID-shaped id: 48 bits of milliseconds then 80 random bits, 26 characters."""
    ms = int((time.time() if now is None else now) * 1000)
    return _b32(ms, 10) + _b32(int.from_bytes(_random10(), "big"), 16)


def fingerprint(channel: str, account: str, provider_id: str | None, content: bytes) -> str:
    """The dedupe identity of an inbound message: the provider's id when it gives one, else a content hash."""
    if provider_id:
        basis = f"{channel}\x1f{account}\x1fid\x1f{provider_id}".encode()
    else:
        basis = f"{channel}\x1f{account}\x1fbody\x1f".encode() + content
    return hashlib.sha256(basis).hexdigest()[:40]
