"""Lockout with backoff after failed sign-ins, per account and per client address, shared by every web process.

Each account and each client has a Redis hash (under a keyed hash of its name: no username or address in
clear) with its streak of failures and its lock. `attempts` failures in a row lock it for `lock_s`; each
further lock in the same streak lasts twice as long, up to `max_lock_s`. A streak is forgotten `forget_s`
after its last failure (or the end of its lock). Attempts while locked are refused unchecked and not counted.
A name nobody has is counted like any other, so a lock tells nobody which accounts exist.

Time comes from the caller's clock, so every web process (and a test) agrees on when a lock ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.macs import mac_for
from gateway.settings import LockoutSettings
from gateway.store.redis_conn import text

# KEYS[1] the hash. ARGV: now, attempts, lock, max lock, forget: times in whole milliseconds (Lua's numbers are
# doubles, and tostring keeps 14 digits: seconds with a fraction would come back rounded). Returns {locked, until}.
_FAIL = """
local now = tonumber(ARGV[1])
local forget = tonumber(ARGV[5])
local h = redis.call('HMGET', KEYS[1], 'until', 'last')
local till = tonumber(h[1] or '0')
local last = tonumber(h[2] or '0')
if till > now then return {0, tostring(till)} end
if last > 0 and now - math.max(last, till) > forget then
  redis.call('DEL', KEYS[1])
end
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local locked = 0
if fails >= tonumber(ARGV[2]) then
  local locks = redis.call('HINCRBY', KEYS[1], 'locks', 1)
  till = now + math.floor(math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(locks - 1, 40)))
  redis.call('HSET', KEYS[1], 'until', tostring(till), 'fails', 0)
  locked = 1
end
redis.call('HSET', KEYS[1], 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(till - now, 0) + forget))
return {locked, tostring(till)}
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _seconds(ms: int) -> int:
    """A wait in whole seconds, never 0 while any of it remains (Retry-After and the page's minutes)."""
    return max(1, math.ceil(ms / 1000))


@dataclass(frozen=True, slots=True)
class Lock:
    """Who is locked (`account` or `client`) and for how many more seconds."""

    kind: str
    retry_after: int


class Lockout:
    def __init__(self, conf: LockoutSettings, signing_key: bytes) -> None:
        self.conf = conf
        self._mac = mac_for(signing_key)

    def key(self, kind: str, name: str) -> str:
        return keys.signin_failures(kind, self._mac.digest(f"signin\x1f{kind}\x1f{name}".encode())[:12].hex())

    def _keys(self, username: str, client: str) -> list[tuple[str, str, int]]:
        return [
            ("account", self.key("account", username), self.conf.account_attempts),
            ("client", self.key("client", client), self.conf.client_attempts),
        ]

    async def locked(self, client: aioredis.Redis, username: str, address: str, now: float) -> Lock | None:
        """The lock that stands in the way of this attempt (the longer one when both are locked), or None."""
        found: Lock | None = None
        at = _ms(now)
        subjects = self._keys(username, address)
        async with client.pipeline(transaction=False) as pipe:
            for _, key, _ in subjects:
                pipe.hget(key, "until")
            stored = await pipe.execute()
        for (kind, _, _), value in zip(subjects, stored, strict=True):
            until = int(float(text(value or "0") or 0))
            if until > at and (found is None or _seconds(until - at) > found.retry_after):
                found = Lock(kind, _seconds(until - at))
        return found

    async def failed(self, client: aioredis.Redis, username: str, address: str, now: float) -> Lock | None:
        """Count a failed attempt against the account and the client; the lock it started, if it started one."""
        c = self.conf
        at = _ms(now)
        started: Lock | None = None
        for kind, key, attempts in self._keys(username, address):
            locked, until = await client.eval(
                _FAIL, 1, key, at, attempts, c.lock_s * 1000, c.max_lock_s * 1000, c.forget_s * 1000
            )
            wait = _seconds(int(float(until)) - at)
            if int(locked) and (started is None or wait > started.retry_after):
                started = Lock(kind, wait)
        return started

    async def succeeded(self, client: aioredis.Redis, username: str) -> None:
        """A good sign-in ends the account's streak. The client's stays: signing in to one's own account
        between guesses at others' must not wipe the count."""
        await client.delete(self.key("account", username))

    def unlock(self, client: redis.Redis, username: str) -> bool:
        """An administrator lifts an account's lock and forgets its streak (`intake users unlock`)."""
        return bool(client.delete(self.key("account", username)))
