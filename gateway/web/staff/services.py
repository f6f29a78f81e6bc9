"""What the staff pages share in one web process: the store (opened on first use), sessions, lockout, the
sign-in judge, and the clock. One per app, at `request.app[STAFF]`.

The store is opened lazily, on a worker thread: a web process takes families' requests whether or not the
ticket database answers, and only the staff pages wait for it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import redis.asyncio as aioredis
from aiohttp import web

from gateway.accounts.directory import DirectoryAuth
from gateway.accounts.lockout import Lockout
from gateway.accounts.sessions import Sessions
from gateway.accounts.signin import Authenticator
from gateway.clock import Clock
from gateway.settings import Settings
from gateway.tickets import TicketStore

R = TypeVar("R")


class StaffServices:
    def __init__(self, settings: Settings, signing_key: bytes, redis: aioredis.Redis, clock: Clock) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.sessions = Sessions(settings.signin, signing_key)
        self.lockout = Lockout(settings.signin.lockout, signing_key)
        conf = settings.signin.ldap
        self.directory = DirectoryAuth(settings.identity.ldap, conf) if conf.enabled else None
        self._store: TicketStore | None = None
        self._authenticator: Authenticator | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.clock.now().timestamp()

    def store(self) -> TicketStore:
        """The built-in store (blocking: call it from a worker thread, as `run` does)."""
        with self._lock:
            return self._opened()

    def authenticator(self) -> Authenticator:
        """Who judges a sign-in (blocking, like `store`)."""
        with self._lock:
            if self._authenticator is None:
                self._authenticator = Authenticator(self._opened().users, self.directory)
            return self._authenticator

    def _opened(self) -> TicketStore:
        if self._store is None:
            self._store = TicketStore.from_settings(self.settings)
        return self._store

    async def run(self, work: Callable[[TicketStore], R]) -> R:
        """`work(store)` on a worker thread: the store's calls block."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: work(self.store()))

    async def blocking(self, fn: Callable[..., R], *args: object) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


STAFF = web.AppKey("staff", StaffServices)


async def close_staff(app: web.Application) -> None:
    await asyncio.get_running_loop().run_in_executor(None, app[STAFF].close)
