"""Whether the Redis servers and the sentinels accept this installation's password and TLS settings, asked once
when a process starts.

A refused password or certificate is a configuration mistake, not an outage: the web process would otherwise
accept every request into its spool, the worker would retry forever, and nothing would say why. So each process
refuses to start on one, naming the setting to fix (never its value). A server that does not answer at all is
not a problem here: that is an outage, which the spool and rq's retries are for.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.settings import Settings
from gateway.store.redis_conn import redis_url, sentinel_addresses, sentinel_kwargs, server_kwargs, text, url_kwargs


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_reason(err: ssl.SSLError) -> str:
    verify = getattr(err, "verify_message", None)
    return str(verify or err.reason or type(err).__name__).rstrip(".")


def _in_url(url: str) -> bool:
    return "@" in url.partition("://")[2].partition("/")[0]


def _password_keys(settings: Settings, sentinel: bool) -> tuple[str, bool]:
    """The settings that hold the password `sentinel` or a server is asked with, and whether one is given."""
    r = settings.redis
    if sentinel:
        user = "redis.sentinel_username (REDIS_SENTINEL_USERNAME) and " if r.sentinel_username else ""
        return f"{user}redis.sentinel_password (REDIS_SENTINEL_PASSWORD)", bool(r.sentinel_password.get_secret_value())
    if _in_url(r.url):
        return "the user and password in redis.url (REDIS_URL)", True
    user = "redis.username (REDIS_USERNAME) and " if r.username else ""
    return f"{user}redis.password (REDIS_PASSWORD)", bool(r.password.get_secret_value())


def refusal(exc: BaseException, settings: Settings, what: str, sentinel: bool = False) -> str | None:
    """What `exc`, met connecting to `what` (a server or a sentinel, and its address), says is misconfigured; None
    when it is no refusal of ours (unreachable, busy...). Never quotes a password."""
    keys, given = _password_keys(settings, sentinel)
    if isinstance(exc, redis.AuthenticationError):
        own = " (a sentinel's requirepass is its own, not the servers')" if sentinel else ""
        if not given:
            return f"{what} asks for a password: set {keys}{own}"
        return f"{what} refused {keys}: the user or password is wrong; give the ones it knows{own}"
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return f"{what} takes {keys} but refuses its user PING: give that ACL user the gateway's commands (+@all)"
    err = _ssl_cause(exc)
    if err is None:
        return None
    reason = _tls_reason(err)
    client_cert = "redis.tls_cert_file and redis.tls_key_file (REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE)"
    if isinstance(err, ssl.SSLCertVerificationError) and "mismatch" in reason:
        fix = (
            "its certificate must name the address the gateway connects to (for a primary, the one the sentinels "
            "give), or set redis.tls_check_hostname false"
        )
    elif isinstance(err, ssl.SSLCertVerificationError):
        fix = "set redis.tls_ca_file (REDIS_TLS_CA_FILE) to the CA that signed its certificate"
    elif "CERTIFICATE_REQUIRED" in reason or (isinstance(err, ssl.SSLEOFError) and not settings.redis.tls_cert_file):
        fix = f"it asks for a client certificate (tls-auth-clients): set {client_cert}"
    elif "WRONG_VERSION_NUMBER" in reason:
        fix = "it does not speak TLS on that port: give its tls-port, or set redis.tls false"
    else:
        fix = f"check redis.tls_ca_file (REDIS_TLS_CA_FILE), and {client_cert} if it asks for a client certificate"
    return f"TLS with {what} failed ({reason}): {fix}"


def _address(url: str) -> str:
    """Where a url points, without the user and password it may carry."""
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"


def _once(host: str, port: int, kwargs: dict[str, Any]) -> redis.Redis:
    return redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **kwargs)


def _probe(client: redis.Redis, settings: Settings, what: str, sentinel: bool = False) -> str | None:
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return refusal(exc, settings, what, sentinel)
    finally:
        client.close()
    return None


def access_problems(settings: Settings) -> list[str]:
    """The refusals met asking each sentinel, then the primary, for a PING: each names the setting to fix."""
    if not settings.redis.sentinels:
        where = f"the Redis server at {_address(settings.redis.url)}" if settings.redis.url else "the embedded Redis"
        client = redis.Redis.from_url(redis_url(settings), retry=Retry(NoBackoff(), 0), **url_kwargs(settings))
        found = _probe(client, settings, where)
        return [found] if found else []
    problems = []
    primary: tuple[str, int] | None = None
    for host, port in sentinel_addresses(settings):
        client = _once(host, port, sentinel_kwargs(settings))
        found = _probe(client, settings, f"the sentinel at {host}:{port}", sentinel=True)
        if found:
            problems.append(found)
            continue
        if primary is None:
            primary = _primary(client, settings.redis.master_name)
    if primary is not None:
        host, port = primary
        found = _probe(_once(host, port, server_kwargs(settings)), settings, f"the Redis primary at {host}:{port}")
        problems += [found] if found else []
    return problems


def _primary(client: redis.Redis, name: str) -> tuple[str, int] | None:
    try:
        answer = client.sentinel_get_master_addr_by_name(name)
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return (text(answer[0]), int(answer[1])) if isinstance(answer, tuple | list) else None
