"""Gateway-assigned identifiers: sortable by time, unguessable, URL-safe."""

from __future__ import annotations

import hashlib
import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


# Every pair of characters, indexed by 10 bits: an id is 13 look-ups and a join.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _b32(value: int, length: int) -> str:
    """The low 5*length bits of `value` in Crockford base32, most significant first."""
    pairs = (length + 1) // 2
    text = "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(10 * (pairs - 1), -1, -10)])
    return text[-length:]


_POOL_BYTES = 4096
_pool = b""
_used = _POOL_BYTES
_pool_lock = threading.Lock()


def _random10() -> int:
    """80 random bits from a pool refilled 4 KiB at a time: one os.urandom call per 400 ids, because
    each call releases the interpreter lock and a busy request loop then waits to get it back."""
    global _pool, _used
    with _pool_lock:
        if _used + 10 > _POOL_BYTES:
            _pool, _used = os.urandom(_POOL_BYTES), 0
        start = _used
        _used += 10
    return int.from_bytes(_pool[start : start + 10], "big")


def new_id(now: float | None = None) -> str:
    """A ULID-shaped id: 48 bits of milliseconds then 80 random bits, 26 characters."""
    ms = int((time.time() if now is None else now) * 1000)
    return _b32(((ms & 0xFFFF_FFFF_FFFF) << 80) | _random10(), 26)


def fingerprint(channel: str, account: str, provider_id: str | None, content: bytes) -> str:
    """The dedupe identity of an inbound message: the provider's id when it gives one, else a content hash."""
    if provider_id:
        basis = f"{channel}\x1f{account}\x1fid\x1f{provider_id}".encode()
    else:
        basis = f"{channel}\x1f{account}\x1fbody\x1f".encode() + content
    return hashlib.sha256(basis).hexdigest()[:40]
