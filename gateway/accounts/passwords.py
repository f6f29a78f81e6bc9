"""Passwords of local staff accounts: hashed with argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane).

Checking costs tens of milliseconds of CPU on purpose, and no more: argon2-cffi's default (64 MiB, 3 passes,
4 lanes) took over 300 ms on a loaded two-core host, so a few dozen guesses a second from many addresses
would have held the web process's CPU. The web process runs it on a worker thread. A hash made with other
parameters is made again at its next good sign-in.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class WeakPassword(ValueError):
    """A new password the policy refuses; the message says why."""


def check_new(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise WeakPassword(f"a password must be at least {min_length} characters long")
    if len(password) > 1024:
        raise WeakPassword("a password must be at most 1024 characters long")
    if not password.strip():
        raise WeakPassword("a password cannot be only spaces")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@functools.cache
def _decoy() -> str:
    return _HASHER.hash("no account has this password")


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash. With no hash (no such account, a directory account) a decoy
    is checked instead, so the answer takes as long and nobody can tell accounts apart by timing."""
    try:
        return _HASHER.verify(stored or _decoy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A hash made with weaker parameters than today's: replaced at the next successful sign-in."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return False
