"""Redis connections and the durability check the gateway's promise rests on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel as SyncSentinel

from gateway.settings import Settings

log = logging.getLogger("intake.redis")

SOCKET_NAME = "redis.sock"


# What a Redis that will not take a write answers: out of memory under `maxmemory` with `noeviction`; a failed
# AOF write or snapshot (a full disk) with `stop-writes-on-bgsave-error`; a replica after a failover; too few
# replicas for `min-replicas-to-write`; a replica cut off from its master; a script running too long; a
# dataset still loading. Each passes with time or an operator's fix, like an outage.
REFUSALS = frozenset({"OOM", "MISCONF", "READONLY", "NOREPLICAS", "MASTERDOWN", "BUSY", "LOADING"})


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` means Redis cannot take the write now (unreachable, or refusing writes), so the message
    belongs in the spool. Any other error from Redis (a bad command, a bug in a script) is no outage."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
        return True
    if not isinstance(exc, redis.ResponseError):
        return False
    code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
    return isinstance(exc, (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)) or code in REFUSALS


def text(value: object) -> str:
    """Redis answers bytes or str depending on the client; we want str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_url(settings: Settings) -> str:
    url = settings.redis.url
    if url:
        return "rediss://" + url.removeprefix("redis://") if settings.redis.tls else url
    sock = (settings.data_path / "redis" / SOCKET_NAME).resolve()
    return f"unix://{sock}"


def _tls(settings: Settings) -> dict[str, Any]:
    r = settings.redis
    if not r.uses_tls:
        return {}
    return {
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": r.tls_ca_file or None,
        "ssl_certfile": r.tls_cert_file or None,
        "ssl_keyfile": r.tls_key_file or None,
        "ssl_check_hostname": r.tls_check_hostname,
    }


def _connection(settings: Settings, username: str, password: str) -> dict[str, Any]:
    t = settings.redis.socket_timeout_s
    credentials = {k: v for k, v in (("username", username), ("password", password)) if v}
    return {"socket_timeout": t, "socket_connect_timeout": t, **credentials, **_tls(settings)}


def server_kwargs(settings: Settings) -> dict[str, Any]:
    """What a connection to a Redis server (the primary the sentinels name, or `redis.url`'s) is opened with."""
    r = settings.redis
    return _connection(settings, r.username, r.password.get_secret_value())


def sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    """What a connection to a sentinel is opened with: its own password (its `requirepass`), the same TLS."""
    r = settings.redis
    return _connection(settings, r.sentinel_username, r.sentinel_password.get_secret_value())


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, _, port in (s.rpartition(":") for s in settings.redis.sentinels)]


class _SentinelManaged(redis.Redis):
    """The primary's client; closing it closes the connections to the sentinels too (redis-py leaves them open)."""

    def close(self) -> None:
        super().close()
        # rq's scheduler builds a client of this class on a pool of its own, which has no sentinels to close.
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in manager.sentinels if manager is not None else ():
            sentinel.close()


class _AsyncSentinelManaged(aioredis.Redis):
    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in manager.sentinels if manager is not None else ():
            await sentinel.aclose()


# Every process builds its clients here. With sentinels configured, a client asks them for the primary on each
# new connection, and drops its connections when the old primary turns out to be a replica (READONLY), so after
# a failover the next command reaches the new primary; the commands in between fail as an outage does (spool).
def sync_client(settings: Settings) -> redis.Redis:
    if settings.redis.sentinels:
        sentinel = SyncSentinel(
            sentinel_addresses(settings), sentinel_kwargs=sentinel_kwargs(settings), **server_kwargs(settings)
        )
        client: redis.Redis = sentinel.master_for(settings.redis.master_name, redis_class=_SentinelManaged)
        return client
    return redis.Redis.from_url(redis_url(settings), **url_kwargs(settings))


def async_client(settings: Settings) -> aioredis.Redis:
    if settings.redis.sentinels:
        asentinel = AsyncSentinel(
            sentinel_addresses(settings),
            sentinel_kwargs=sentinel_kwargs(settings),
            decode_responses=True,
            **server_kwargs(settings),
        )
        aclient: aioredis.Redis = asentinel.master_for(settings.redis.master_name, redis_class=_AsyncSentinelManaged)
        return aclient
    return aioredis.Redis.from_url(redis_url(settings), decode_responses=True, **url_kwargs(settings))


def url_kwargs(settings: Settings) -> dict[str, Any]:
    # A rediss:// url picks the TLS connection class itself, which takes no `ssl` argument.
    return {k: v for k, v in server_kwargs(settings).items() if k != "ssl"}


@dataclass
class Durability:
    ok: bool
    appendonly: str = "?"
    appendfsync: str = "?"
    version: str = "?"
    problems: list[str] = field(default_factory=list)


def check_durability(client: redis.Redis) -> Durability:
    """Read the server's persistence settings: an acknowledged message must survive a crash."""
    try:
        version = str(client.info("server").get("redis_version", "?"))
        cfg = client.config_get("append*")
    except redis.ResponseError:
        return Durability(False, problems=["CONFIG GET is not allowed: cannot verify appendonly/appendfsync"])
    conf = {text(k): text(v) for k, v in cfg.items()}
    appendonly = conf.get("appendonly", "?")
    appendfsync = conf.get("appendfsync", "?")
    problems = []
    if appendonly != "yes":
        problems.append("appendonly is not 'yes': acknowledged messages are lost if Redis crashes")
    elif appendfsync != "always":
        problems.append(
            f"appendfsync is '{appendfsync}', not 'always': up to a second of acknowledged messages can be lost"
        )
    return Durability(not problems, appendonly, appendfsync, version, problems)


def announce_durability(d: Durability) -> None:
    if d.ok:
        log.info("redis durability ok", extra={"appendonly": d.appendonly, "appendfsync": d.appendfsync})
        return
    for problem in d.problems:
        log.warning("REDIS CANNOT KEEP THE DURABILITY PROMISE: %s", problem)


def socket_path(settings: Settings) -> Path:
    return settings.data_path.resolve() / "redis" / SOCKET_NAME
