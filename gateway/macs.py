"""HMAC-SHA256 with the key's pads hashed once: the request path signs and checks with the same few keys.

`hmac.digest` sets up OpenSSL's HMAC context on every call, which costs more than hashing a whole
webhook body. Hashing the padded key once (RFC 2104) and copying the two states per message gives the
same bytes for a quarter of the CPU.
"""

from __future__ import annotations

import functools
import hashlib

_BLOCK = 64  # SHA-256's block size in bytes
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class Sha256Mac:
    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digest_parts(self, *parts: bytes) -> bytes:
        """The MAC of the parts joined, without joining them (a body can be a megabyte)."""
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@functools.lru_cache(maxsize=64)
def mac_for(key: bytes) -> Sha256Mac:
    """The prepared MAC for a key; a process holds a handful (its signing key, each form source's secret)."""
    return Sha256Mac(key)
