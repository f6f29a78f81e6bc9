"""Staff sessions, kept in Redis so that every web process knows them: created at sign-in, ended at sign-out,
after `signin.idle_minutes` without a request, `signin.session_hours` after sign-in whatever happens, and at once
when the person's account changes (disabled, another role, other departments, a new password).

The cookie carries a random value; Redis keeps only its keyed hash, so a copy of Redis signs nobody in.
Time comes from the web process's clock (a test moves it instead of waiting).
"""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.accounts.roles import RANK, StaffUser
from gateway.macs import mac_for
from gateway.settings import SigninSettings
from gateway.store.redis_conn import text

_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# A session's last request is written at most this often: each write is fsynced, and a minute is nothing
# against an idle timeout.
TOUCH_S = 60
MAX_FLASHES = 5


@dataclass(frozen=True, slots=True)
class Session:
    user: StaffUser
    csrf: str  # the token every form and every htmx request of this session must carry
    created: float
    seen: float


def _user_digest(mac_key: bytes, username: str) -> str:
    return mac_for(mac_key).digest(f"staff-user\x1f{username}".encode())[:12].hex()


class Sessions:
    def __init__(self, conf: SigninSettings, signing_key: bytes) -> None:
        self.max_age_s = conf.session_hours * 3600
        self.idle_s = conf.idle_minutes * 60
        self._key = signing_key
        self._mac = mac_for(signing_key)

    def _session_key(self, value: str) -> str:
        return keys.staff_session(self._mac.digest(f"staff-session\x1f{value}".encode())[:16].hex())

    def _ttl(self, created: float, now: float) -> int:
        """Redis forgets a session on its own once it could be valid no longer (a backstop: expiry is checked)."""
        return max(1, math.ceil(min(self.idle_s, created + self.max_age_s - now)) + TOUCH_S)

    async def create(self, client: aioredis.Redis, user: StaffUser, now: float) -> tuple[str, Session]:
        """A new session (a new value: a session never survives a sign-in) and the cookie value for it."""
        value = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), now, now)
        key = self._session_key(value)
        owner = keys.staff_sessions_of(_user_digest(self._key, user.username))
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={
                "username": user.username, "name": user.name, "role": user.role, "source": user.source,
                "departments": json.dumps(list(user.departments)), "csrf": session.csrf,
                "created": repr(now), "seen": repr(now),
            })  # fmt: skip
            pipe.expire(key, self._ttl(now, now))
            pipe.sadd(owner, key)
            pipe.expire(owner, math.ceil(self.max_age_s) + TOUCH_S)
            await pipe.execute()
        return value, session

    async def load(self, client: aioredis.Redis, value: str, now: float) -> Session | None:
        """The live session for a cookie value, or None (none, expired, idle too long: then it is ended)."""
        if not _VALUE.fullmatch(value):
            return None
        key = self._session_key(value)
        raw = {text(k): text(v) for k, v in (await client.hgetall(key)).items()}
        if not raw:
            return None
        try:
            session = _parse(raw)
        except (KeyError, ValueError):
            await client.delete(key)
            return None
        if now - session.created > self.max_age_s or now - session.seen > self.idle_s:
            await self._end(client, key, session.user.username)
            return None
        if now - session.seen >= TOUCH_S:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(key, "seen", repr(now))
                pipe.expire(key, self._ttl(session.created, now))
                await pipe.execute()
        return session

    async def push_flash(self, client: aioredis.Redis, value: str, item: dict[str, Any]) -> None:
        """A message kept in the session for the next page this person sees (after a redirect)."""
        key = self._session_key(value)
        current = await client.hget(key, "flash")
        items = [*json.loads(text(current)), item] if current else [item]
        await client.hset(key, "flash", json.dumps(items[-MAX_FLASHES:], default=str))

    async def pop_flashes(self, client: aioredis.Redis, value: str) -> list[dict[str, Any]]:
        key = self._session_key(value)
        async with client.pipeline(transaction=True) as pipe:
            pipe.hget(key, "flash")
            pipe.hdel(key, "flash")
            current, _ = await pipe.execute()
        return list(json.loads(text(current))) if current else []

    async def end(self, client: aioredis.Redis, value: str) -> str | None:
        """Sign-out: the session is gone at once, in every web process. Returns whose it was."""
        if not _VALUE.fullmatch(value):
            return None
        key = self._session_key(value)
        username = await client.hget(key, "username")
        await self._end(client, key, text(username) if username else None)
        return text(username) if username else None

    async def _end(self, client: aioredis.Redis, key: str, username: str | None) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if username:
                pipe.srem(keys.staff_sessions_of(_user_digest(self._key, username)), key)
            await pipe.execute()

    def end_all(self, client: redis.Redis, username: str) -> int:
        """End every session of one person (their account changed); how many there were."""
        return end_all(client, self._key, username)

    async def end_all_async(self, client: aioredis.Redis, username: str) -> int:
        owner = keys.staff_sessions_of(_user_digest(self._key, username))
        members = [text(m) for m in await client.smembers(owner)]
        async with client.pipeline(transaction=True) as pipe:
            for key in members:
                pipe.delete(key)
            pipe.delete(owner)
            await pipe.execute()
        return len(members)


def end_all(client: redis.Redis, signing_key: bytes, username: str) -> int:
    owner = keys.staff_sessions_of(_user_digest(signing_key, username))
    members = [text(m) for m in client.smembers(owner)]
    with client.pipeline(transaction=True) as pipe:
        for key in members:
            pipe.delete(key)
        pipe.delete(owner)
        pipe.execute()
    return len(members)


def _parse(raw: dict[str, str]) -> Session:
    role = raw["role"]
    if role not in RANK:
        raise ValueError(role)
    departments = json.loads(raw["departments"])
    user = StaffUser(
        username=raw["username"], name=raw["name"], role=role,  # type: ignore[arg-type]
        departments=tuple(str(d) for d in departments), source=raw.get("source", "local"),
    )  # fmt: skip
    return Session(user, raw["csrf"], float(raw["created"]), float(raw["seen"]))
