"""The service's own knobs: the HTTP server, Redis, jobs, routing reloads, incidents, status sync and logging."""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings.base import Strict


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_base_url: str = ""
    max_body_bytes: int = Field(1_048_576, gt=0)
    # Group commit: how many concurrent messages one Redis round trip may carry.
    commit_batch_max: int = Field(256, ge=1, le=5000)
    # How many of those round trips may be in flight at once. More lets a message that just missed a
    # batch start its own commit, at the price of smaller batches: one fsync and one script per batch.
    commits_in_flight: int = Field(1, ge=1, le=16)
    # `Authorization: Bearer <token>` shows /readyz's detail and, when set, is required for /metrics.
    operator_token: SecretStr = SecretStr("")
    # The load balancers and proxies in front of us (addresses or networks): behind one of them, the client is
    # the address it appended to X-Forwarded-For. Anyone else's X-Forwarded-For is ignored (it is theirs to write).
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address or network, e.g. 10.0.0.0/8 or 192.168.1.10") from None
        return v


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int] | None:
    """`"30/hour"` -> (30, 3600); `"off"` -> None."""
    if text.strip().lower() == "off":
        return None
    m = _RATE.match(text.lower())
    if m is None or int(m.group(1)) < 1:
        raise ValueError(f"{text!r} is not a rate: write COUNT/UNIT (second, minute, hour, day), e.g. 30/hour, or off")
    return int(m.group(1)), _UNIT_S[m.group(2)]


class RateLimitSettings(Strict):
    """How often one client, and one email address or phone number, may send a request (429 past it)."""

    form_per_client: str = "30/hour"  # POST /form, per client address (a family sends one or two)
    hook_per_client: str = "600/minute"  # POST /hooks/webform, per client (a district site relays many families)
    per_address: str = "10/hour"  # requests naming one email or phone, the form and the hook together

    @field_validator("form_per_client", "hook_per_client", "per_address")
    @classmethod
    def _rate(cls, v: str) -> str:
        parse_rate(v)
        return v


class RedisSettings(Strict):
    url: str = ""  # empty: the embedded redis-server under data_dir
    dedupe_ttl_days: int = Field(30, ge=1)
    socket_timeout_s: float = Field(2.0, gt=0)
    # Redis Sentinel (gateway/store/redis_conn.py): where to ask for the primary, instead of `url`.
    sentinels: list[str] = Field(default_factory=list)
    master_name: str = ""
    # Replicas that must hold a commit before it is acknowledged: empty means 1 with sentinels, else 0 (no WAIT).
    wait_replicas: int | None = Field(None, ge=0, le=16)
    wait_timeout_ms: int = Field(250, ge=1, le=60_000)
    # A protected Redis: the ACL user and password the servers know the gateway by (with `url`, they may be in it
    # instead), and the sentinels' own (a sentinel's `requirepass` is its own, not the servers').
    username: str = ""
    password: SecretStr = SecretStr("")
    sentinel_username: str = ""
    sentinel_password: SecretStr = SecretStr("")
    # TLS to the servers and the sentinels alike (a `rediss://` url switches it on too). Empty CA file: the system's.
    tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""  # a client certificate, for servers with `tls-auth-clients yes`
    tls_key_file: str = ""
    tls_check_hostname: bool = True

    @field_validator("sentinels", mode="before")
    @classmethod
    def _sentinel_list(cls, v: object) -> object:
        return sentinel_list(v)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or unix:///PATH")
        return v

    @model_validator(mode="after")
    def _sentinels_or_url(self) -> RedisSettings:
        if self.sentinels and not self.master_name:
            raise ValueError(
                "redis.sentinels needs redis.master_name: the name the sentinels monitor (REDIS_MASTER_NAME)"
            )
        if self.sentinels and self.url:
            raise ValueError("set redis.sentinels (REDIS_SENTINELS) or redis.url (REDIS_URL), not both")
        self._check_access()
        if self.replicas_to_wait and self.wait_timeout_ms >= self.socket_timeout_s * 1000:
            # Else the client gives up on the socket first, and drops a connection that was only waiting.
            raise ValueError(
                f"redis.wait_timeout_ms ({self.wait_timeout_ms}) must be below redis.socket_timeout_s "
                f"({self.socket_timeout_s} s): lower it, e.g. to 250"
            )
        return self

    def _check_access(self) -> None:
        secret = self.password.get_secret_value() or self.username
        if not (self.url or self.sentinels) and (secret or self.uses_tls):
            raise ValueError(
                "redis.username, redis.password and redis.tls are for a Redis of your own (redis.url or "
                "redis.sentinels): the embedded one listens on a socket in data_dir only; set REDIS_URL or "
                "REDIS_SENTINELS, or leave them empty"
            )
        if (self.sentinel_password.get_secret_value() or self.sentinel_username) and not self.sentinels:
            raise ValueError(
                "redis.sentinel_password and redis.sentinel_username need redis.sentinels: leave them empty"
            )
        if secret and "@" in self.url.partition("://")[2].partition("/")[0]:
            raise ValueError(
                "redis.url already names a user or password (before its @): keep them there, or move them to "
                "redis.username and redis.password (REDIS_USERNAME, REDIS_PASSWORD), not both"
            )
        if self.tls and self.url.startswith("unix://"):
            raise ValueError("redis.tls is for a Redis reached over TCP: a unix:// url needs no TLS; set it false")
        if not self.uses_tls:
            for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
                if getattr(self, key):
                    raise ValueError(f"redis.{key} is set but TLS is off: set redis.tls true (REDIS_TLS)")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError(
                "redis.tls_cert_file and redis.tls_key_file go together (the client certificate and its key): "
                "set both, or neither"
            )
        if self.uses_tls:
            tls_files_problem(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.url.startswith("rediss://")

    @property
    def replicas_to_wait(self) -> int:
        """How many replicas a commit waits for (WAIT): 0 waits for none."""
        if self.wait_replicas is not None:
            return self.wait_replicas
        return 1 if self.sentinels else 0


def tls_files_problem(ca_file: str, cert_file: str, key_file: str) -> None:
    """Raise ValueError naming the setting whose file cannot be read as what it should be; before any connection, so
    that a process does not start and then call every TLS handshake an outage."""
    for key, name in (("tls_ca_file", ca_file), ("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        if name and not Path(name).is_file():
            raise ValueError(f"redis.{key}: no file at {name!r}: name an existing PEM file (absolute paths are safest)")
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(
                f"redis.tls_ca_file: {ca_file!r} holds no PEM certificate ({_reason(exc)}): name the CA that signed "
                "the servers' and the sentinels' certificates"
            ) from None
    if cert_file:
        try:
            # An encrypted key would make OpenSSL ask for its passphrase on the terminal: an empty one fails instead.
            context.load_cert_chain(cert_file, key_file, password="")
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(
                f"redis.tls_cert_file and redis.tls_key_file: {cert_file!r} and its key cannot be used together "
                f"({_reason(exc)}): give the PEM certificate and its unencrypted PEM key"
            ) from None


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__)


def sentinel_list(v: object) -> object:
    """`"a:26379, b:26379"` (REDIS_SENTINELS) or a YAML list -> ["a:26379", "b:26379"], each checked as host:port."""
    if isinstance(v, str):
        v = [part.strip() for part in v.split(",") if part.strip()]
    if not isinstance(v, list):
        return v
    for item in v:
        host, sep, port = str(item).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{str(item)[:40]!r} is not host:port: list the sentinels as host:port, e.g. "
                "sentinel-1:26379,sentinel-2:26379"
            )
    return [str(item) for item in v]


class JobSettings(Strict):
    retry_intervals: list[int] = Field(default_factory=lambda: [10, 60, 300, 900])
    # A job whose worker was killed under it (a deploy, an out-of-memory kill, a lost host) did not fail: it runs
    # again this many times without spending its tries. Past that (a job that kills every worker that takes it),
    # each loss spends a try like any failure, and the job ends in the dead letters.
    abandonments: int = Field(10, ge=0)
    timeout_s: int = Field(120, gt=0)
    # A dead-lettered job holds the request it was carrying (contact details included): kept this long for
    # `intake replay`, then rq forgets it.
    failure_ttl_days: int = Field(30, ge=1)
    # A finished job (its request, and its result, which nothing reads) is kept this long; rq's own 500 s made
    # finished jobs most of Redis's memory under a steady load. 0: forgotten the moment it finishes.
    result_ttl_s: int = Field(60, ge=0)

    @field_validator("retry_intervals")
    @classmethod
    def _non_negative(cls, v: list[int]) -> list[int]:
        if not v or any(i < 0 for i in v):
            raise ValueError("expected a non-empty list of seconds >= 0, e.g. [10, 60, 300]")
        return v


class RoutingSettings(Strict):
    # Empty: the shipped config/rules.yaml. A relative path is read from gateway.yaml's folder.
    rules_file: str = ""
    # How often a running process looks for a changed rules file and for new closures.
    reload_interval_s: float = Field(2.0, gt=0)
    # How many delivered requests `intake rules test --replay N` can look back over.
    replay_keep: int = Field(1000, ge=0)
    # How often each web process counts the response clocks that ran out (once each, however many processes).
    sla_sweep_interval_s: float = Field(15.0, gt=0)

    def rules_path(self, config_file: str) -> Path:
        if not self.rules_file:
            return Path(__file__).resolve().parents[2] / "config" / "rules.yaml"
        path = Path(self.rules_file)
        return path if path.is_absolute() or not config_file else Path(config_file).parent / path


class IncidentSettings(Strict):
    # A surge: this many similar requests (one school; a shared keyword or the same category) within the window.
    surge_threshold: int = Field(10, ge=2)
    surge_window_minutes: int = Field(15, ge=1)
    fanout_chunk: int = Field(200, ge=1, le=5000)  # linked requesters one fan-out job handles
    match_timeout_ms: int = Field(50, ge=1, le=5000)  # most one incident pattern may take on one request


class SyncSettings(Strict):
    """`intake sync`: status and staff answers polled from ticket systems that send no webhooks (RT, Redmine)."""

    # How often each polling system is asked what changed since the checkpoint. A staff answer reaches the
    # family within this plus the time a reply takes to go out: under a minute with the default.
    interval_s: float = Field(20.0, gt=0)
    # After a failed poll the next one waits twice as long each time, up to this.
    backoff_max_s: float = Field(300.0, gt=0)
    # A family asking (STATUS, the status page) gets the status the ticket system reports now: the longest one
    # answer waits for every system it asks, together, before it answers with the last status we know.
    lookup_timeout_s: float = Field(3.0, gt=0)
    # The longest the status page waits for a worker's fresh look-up before it shows the last known status.
    page_wait_s: float = Field(1.0, ge=0)
    # A status looked up this recently is shown as it is: the page does not ask the system again.
    lookup_fresh_s: float = Field(30.0, ge=0)


class LoggingSettings(Strict):
    level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
