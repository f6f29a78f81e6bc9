"""Pacing calls to a ticket system across every worker: one token bucket per system, in Redis.

Freshdesk's allowance is per account per minute, whatever the number of workers; eight workers that
each paced themselves would still exceed it. The bucket lives in Redis and is refilled by time, so
`take()` is one atomic script call: it takes a token, or says how long until the next one.
"""

from __future__ import annotations

import time

import redis

from gateway import keys

# KEYS[1]: the bucket hash. ARGV: capacity, tokens per second, now (seconds, float).
# Returns 0 when a token was taken, else the seconds to wait for the next one (as a string).
TAKE = """
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'at', now)
  redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
  return '0'
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return tostring((1 - tokens) / rate)
"""


class PacingTimeout(Exception):
    """No token came within the longest wait a job may spend; the caller treats it as a rate limit."""


class Pacer:
    """`per_minute` calls a minute to one system, in bursts of at most `burst`, shared by every worker."""

    def __init__(self, r: redis.Redis, name: str, per_minute: float, burst: int | None = None) -> None:
        self.r = r
        self.key = keys.backend_bucket(name)
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(per_minute // 6) or 1))
        self.script = r.register_script(TAKE)

    def wait_s(self) -> float:
        """Take a token if one is there (0.0), else how long until the next."""
        return float(self.script(keys=[self.key], args=[self.capacity, self.rate, time.time()]))

    def take(self, max_wait_s: float = 30.0) -> None:
        """Block until a token is ours. Raises PacingTimeout past `max_wait_s`."""
        deadline = time.monotonic() + max_wait_s
        while (wait := self.wait_s()) > 0:
            if time.monotonic() + wait > deadline:
                raise PacingTimeout(f"no token within {max_wait_s:.0f} s")
            time.sleep(wait)
