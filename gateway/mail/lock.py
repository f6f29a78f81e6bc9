"""The mailbox lock: one poller per mailbox across every `intake mail` instance.

The lock's value names its holder (host, pid, and a token of this process), and the holder renews it well
within its lease (`channels.email.lock_ttl_s`). Two cases must not wait out the lease:
- a poller whose Redis went away and came back finds its own value still there (Redis kept it on disk) and
  carries on: it is still the holder;
- a poller that finds the holder's process gone on its own host (an `intake mail` that was SIGKILLed and
  restarted by its supervisor) takes the lock over at once.
Anyone else waits until the holder stops renewing and the lease runs out.
"""

from __future__ import annotations

import os
import secrets
import socket

import redis.asyncio as aioredis

from gateway.store.redis_conn import text
from workers.locks import pid_alive

# Take (or keep) the lock when it is free, already ours, or still held by the holder we judged orphaned.
_TAKE = """
local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] or (ARGV[3] ~= '' and v == ARGV[3]) then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class LostLock(Exception):
    """Another instance holds the mailbox now: this one must stop polling it."""


def orphaned(holder: str) -> bool:
    """A holder on this host whose process is gone."""
    host, _, rest = holder.partition("|")
    pid = rest.partition("|")[0]
    return host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid))


class MailboxLock:
    def __init__(self, client: aioredis.Redis, key: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = f"{socket.gethostname()}|{os.getpid()}|{secrets.token_hex(8)}"

    async def _take(self, orphan: str = "") -> bool:
        return bool(await self.client.eval(_TAKE, 1, self.key, self.token, str(self.ttl_ms), orphan))

    async def acquire(self) -> bool:
        """True when this process holds the lock now."""
        if await self._take():
            return True
        holder = await self.client.get(self.key)
        return holder is not None and orphaned(text(holder)) and await self._take(text(holder))

    async def renew(self) -> None:
        if not await self._take():
            raise LostLock("the mailbox lock is held by another instance")

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.token)
