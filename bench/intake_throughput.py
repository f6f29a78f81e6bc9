"""Intake throughput: durable commits per second through the real gateway, next to a bare aiohttp app.

In one run and under the same load (wrk, N concurrent connections, a distinct signed request each time):

1. the bare app (bench/bare_app.py: reads the body, answers 200) -> bare_per_s, the ceiling of one
   Python process on this core;
2. the gateway (`python -m gateway.cli --config X serve`, the web process only) with its own
   redis-server at `appendonly yes`, `appendfsync always` (automatic AOF rewrite off unless
   --aof-rewrite: with no worker the dataset only grows) -> committed_per_s, counted in Redis (the
   growth of the deliver queue during the measured window), not from the HTTP answers.

The server under test (and, for the gateway, its redis-server) runs on one core, wrk on the other.
Progress goes to stderr; one JSON line goes to stdout at the end (see bench/README.md).

    .venv/bin/python bench/intake_throughput.py [--mode webform] [--duration 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
LUA = BENCH / "wrk_signed.lua"
BARE_APP = BENCH / "bare_app.py"
DEFAULT_CONFIG = REPO / "config" / "gateway.yaml"

# The targets: committed messages/s at least 15% of the bare app's requests/s, p99 under 50 ms.
TARGET_RATIO = 0.15
TARGET_P99_MS = 50.0
BARE_DISTINCT = 10_000
MIN_DISTINCT = 30_000
# A share of a measured core used by processes not ours above which the run is flagged as contended.
CONTENDED_SHARE = 0.25
# No worker runs during the bench, so every committed message stays on its backend's deliver queue.
DELIVER_QUEUE_KEY = "rq:queue:deliver-{backend}"
DEDUPE_PATTERN = "ig:dedupe:*"
# Environment variables that would override the config we write (DESIGN.md section 10).
SCRUBBED_ENV = ("INTAKE_", "REDIS_", "PORT", "HOST", "PUBLIC_BASE_URL", "TWILIO_", "SLACK_", "META_", "WHATSAPP_")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The bench could not run (a missing tool, a server that did not start): not a slow result."""


# --------------------------------------------------------------------------------------------------
# Modes: how to make signed requests for one channel, and how to configure the gateway to accept them.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class Mode(ABC):
    """One channel under load. A new mode = a subclass registered in MODES."""

    name: str
    path: str
    # Each channel's issue sets its own targets; the web form's are the defaults.
    target_ratio: float = TARGET_RATIO
    target_p99_ms: float = TARGET_P99_MS

    @abstractmethod
    def gateway_config(self) -> dict[str, Any]:
        """Overrides merged into config/gateway.yaml (e.g. the channel's signing secret)."""

    def gateway_env(self) -> dict[str, str]:
        """Extra environment for the gateway process (channels switched on by their secrets)."""
        return {}

    @abstractmethod
    def make(self, index: int, run_id: str) -> SignedRequest:
        """Request number `index`: distinct from every other index, so the gateway sees a new message."""


class WebformMode(Mode):
    """POST /hooks/webform, JSON, `X-Intake-Signature: sha256=<HMAC of the raw body>`, an Idempotency-Key."""

    name = "webform"
    path = "/hooks/webform"
    secret = "bench-webform-secret-" + "5f0c2a"
    categories = ("transportation", "devices", "accounts", "internet", "enrollment", "other")
    schools = ("district", "lhs", "wms", "jes")

    def gateway_config(self) -> dict[str, Any]:
        return {
            "channels": {
                "webform": {"enabled": True, "sources": {"demo": {"token": "", "signing_secret": self.secret}}}
            }
        }

    def make(self, index: int, run_id: str) -> SignedRequest:
        payload = {
            "name": f"Parent {index}",
            "email": f"parent{index}@example.org",
            "category": self.categories[index % len(self.categories)],
            "school": self.schools[index % len(self.schools)],
            "subject": f"Bench request {index}",
            "message": f"My child's laptop will not connect to the school Wi-Fi (bench {run_id} #{index}).",
            "language": "en",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Intake-Signature": f"sha256={signature}",
            "Idempotency-Key": f"bench-{run_id}-{index}",
        }
        return SignedRequest(self.path, headers, body)


class SlackEventsMode(Mode):
    """POST /hooks/slack/events: Events API message.im envelopes signed v0 (HMAC of `v0:<ts>:<raw body>`)."""

    name = "slack"
    path = "/hooks/slack/events"
    secret = "bench-slack-signing-secret-" + "7a3e"
    team = "T0BENCH001"
    target_ratio = 0.10
    target_p99_ms = 100.0

    def gateway_config(self) -> dict[str, Any]:
        return {
            "channels": {
                "slack": {
                    "signing_secret": self.secret,
                    "bot_token": "xoxb-bench",
                    "team_id": self.team,
                    "api_url": "http://127.0.0.1:9/api/",
                }
            }
        }

    def make(self, index: int, run_id: str) -> SignedRequest:
        ts = f"{1_700_000_000 + index // 1000}.{index % 1000:06d}"
        body = json.dumps(
            {
                "token": "bench",
                "team_id": self.team,
                "api_app_id": "A0BENCH",
                "type": "event_callback",
                "event_id": f"Ev{run_id}{index:08d}",
                "event_time": 1_700_000_000,
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "channel": f"D0BENCH{index % 97:03d}",
                    "user": f"U0BENCH{index % 501:04d}",
                    "ts": ts,
                    "text": f"The printer in room {index % 300} is jammed again (bench {run_id} #{index}).",
                },
                "authorizations": [{"team_id": self.team, "user_id": "U0BENCHBOT", "is_bot": True}],
            },
            separators=(",", ":"),
        ).encode()
        # Signed at generation: a run lasts well under Slack's five-minute window.
        stamp = str(int(time.time()))
        sig = hmac.new(self.secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={sig}",
        }
        return SignedRequest(self.path, headers, body)


class TwilioSmsMode(Mode):
    """POST /hooks/twilio/sms, form-encoded, `X-Twilio-Signature` from Twilio's own RequestValidator over the
    public URL and the sorted parameters; a distinct MessageSid and sender each (so none continues another)."""

    name = "sms"
    path = "/hooks/twilio/sms"
    account_sid = "AC" + "be" * 16
    auth_token = "bench-twilio-token-" + "3d9e71"
    public = "https://intake.bench.example.org"
    number = "+15555550100"

    def __init__(self) -> None:
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(self.auth_token)

    def gateway_config(self) -> dict[str, Any]:
        return {
            "server": {"public_base_url": self.public},
            "channels": {
                "twilio": {
                    "account_sid": self.account_sid,
                    "auth_token": self.auth_token,
                    "numbers": {"main": {"number": self.number, "school": "district", "language": "en"}},
                }
            },
        }

    def params(self, index: int, run_id: str) -> dict[str, str]:
        sid = "SM" + hashlib.sha256(f"{run_id}-{index}".encode()).hexdigest()[:32]
        return {
            "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": f"The Wi-Fi at school is down again (bench {run_id} #{index})", "FromCountry": "US",
            "To": self.number, "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid,
            "From": f"+1555{index % 10_000_000:07d}", "ApiVersion": "2010-04-01",
        }  # fmt: skip

    def make(self, index: int, run_id: str) -> SignedRequest:
        from urllib.parse import urlencode

        params = self.params(index, run_id)
        signature = self.validator.compute_signature(self.public + self.path, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        return SignedRequest(self.path, headers, urlencode(params).encode())


MODES: dict[str, type[Mode]] = {m.name: m for m in (WebformMode, SlackEventsMode, TwilioSmsMode)}


@dataclass(frozen=True, slots=True)
class RequestSet:
    """A file of signed requests for wrk_signed.lua: path TAB headers (\\x1f-separated) TAB body, one per line."""

    file: Path
    count: int
    mean_body_bytes: float
    generate_s: float


def write_requests(mode: Mode, count: int, file: Path) -> RequestSet:
    t0 = time.perf_counter()
    run_id = secrets.token_hex(4)
    total = 0
    with file.open("w", encoding="utf-8", newline="\n") as out:
        for i in range(count):
            r = mode.make(i, run_id)
            body = r.body.decode()
            if any(ch in body for ch in "\t\r\n") or any(ch in v for v in r.headers.values() for ch in "\t\r\n\x1f"):
                raise BenchError(f"mode {mode.name}: request {i} has a tab or newline in its body or headers")
            headers = "\x1f".join(f"{k}: {v}" for k, v in r.headers.items())
            out.write(f"{r.path}\t{headers}\t{body}\n")
            total += len(r.body)
        # On disk now, not 30 s from now: the kernel writes dirty pages back when they are 30 s old, and this
        # file (100 MB and more) landing in the first measured round stalled Redis's fsyncs (p99 64-93 ms).
        out.flush()
        os.fsync(out.fileno())
    return RequestSet(file, count, total / max(count, 1), time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# Processes: pinned to a core, in their own session, always stopped.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    server_cpu: int | None
    load_cpu: int | None
    unpinned_because: str = ""
    # Redis with the server (the whole system on one core) or with wrk (Redis as the separate service
    # every web process of a deployment shares: DESIGN.md section 9).
    redis_with_load: bool = False

    @property
    def redis_cpu(self) -> int | None:
        return self.load_cpu if self.redis_with_load else self.server_cpu

    @property
    def pinned(self) -> bool:
        return self.server_cpu is not None

    def describe(self) -> dict[str, Any]:
        if not self.pinned:
            return {"pinned": False, "note": f"nothing pinned: {self.unpinned_because}"}
        return {
            "pinned": True,
            "server_cpu": self.server_cpu,
            "redis_cpu": self.redis_cpu,
            "load_cpu": self.load_cpu,
            "note": (
                f"gateway (or bare app) on cpu {self.server_cpu}; redis-server and wrk share cpu {self.load_cpu}"
                if self.redis_with_load
                else f"gateway (or bare app) and redis-server share cpu {self.server_cpu}; wrk on cpu {self.load_cpu}"
            ),
        }


def choose_layout(server_cpu: int, load_cpu: int, pin: bool, redis_with_load: bool = False) -> Layout:
    usable = os.sched_getaffinity(0)
    if not pin:
        return Layout(None, None, "--no-pin")
    if shutil.which("taskset") is None:
        return Layout(None, None, "taskset (util-linux) is missing")
    if len(usable) < 2:
        return Layout(None, None, f"only {len(usable)} usable cpu")
    if server_cpu not in usable or load_cpu not in usable or server_cpu == load_cpu:
        raise BenchError(
            f"--server-cpu {server_cpu} / --load-cpu {load_cpu}: need two distinct cpus of {sorted(usable)}"
        )
    return Layout(server_cpu, load_cpu, redis_with_load=redis_with_load)


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """taskset before exec, so every thread the process starts later (rq, redis bio threads) is pinned too."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}
    env.update(extra)
    return env


@contextmanager
def running(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, cwd=REPO, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode} before answering /healthz:\n{tail(log)}")
        with suppress(OSError, http.client.HTTPException):
            if http_get(port, "/healthz", timeout=1.0)[0] == 200:
                return
        time.sleep(0.05)
    raise BenchError(f"{what} did not answer /healthz within {timeout:.0f}s:\n{tail(log)}")


def filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (an fsync on tmpfs costs nothing, and the numbers would lie)."""
    best, fstype = "", "?"
    with suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount, inside = parts[1], str(path.resolve())
            if (inside == mount or inside.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, fstype = mount, parts[2]
    return fstype


# --------------------------------------------------------------------------------------------------
# CPU accounting: is the server core saturated, by whom, and is anything else (another job) on it?
# --------------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    cores: dict[int, int]  # cpu -> busy ticks (everything but idle and iowait)
    steal: dict[int, int]  # cpu -> ticks the hypervisor gave to another guest
    procs: dict[str, int]  # name -> user + system ticks of the whole process (all threads)


def cpu_snapshot(pids: dict[str, int]) -> CpuSnapshot:
    cores: dict[int, int] = {}
    steal: dict[int, int] = {}
    with suppress(OSError), open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                # user nice system idle iowait irq softirq steal (guest time is already in user)
                t = [int(v) for v in values[:8]]
                cores[int(name[3:])] = t[0] + t[1] + t[2] + t[5] + t[6] + t[7]
                steal[int(name[3:])] = t[7]
    procs: dict[str, int] = {}
    for label, pid in pids.items():
        with suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            procs[label] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return CpuSnapshot(cores, steal, procs)


def cpu_usage(a: CpuSnapshot, b: CpuSnapshot, seconds: float, layout: Layout) -> dict[str, float]:
    """CPU seconds per second of `seconds`: 1.0 is one core fully used."""

    def per_s(ticks: int) -> float:
        return round(ticks / CLK_TCK / seconds, 3) if seconds > 0 else 0.0

    out = {f"{name}_cpu": per_s(b.procs[name] - a.procs[name]) for name in b.procs if name in a.procs}
    if layout.server_cpu is not None and layout.load_cpu is not None:
        server_core = per_s(b.cores.get(layout.server_cpu, 0) - a.cores.get(layout.server_cpu, 0))
        load_core = per_s(b.cores.get(layout.load_cpu, 0) - a.cores.get(layout.load_cpu, 0))
        # Redis counts on the core it was pinned to (`--redis-with-load` puts it with wrk).
        on_load = {"wrk_cpu", "redis_cpu"} if layout.redis_with_load else {"wrk_cpu"}
        ours = sum(v for k, v in out.items() if k not in on_load)
        out["server_core_busy"] = server_core
        out["server_core_steal"] = per_s(b.steal.get(layout.server_cpu, 0) - a.steal.get(layout.server_cpu, 0))
        out["load_core_busy"] = load_core
        # What else ran there: the kernel's share of loopback networking, any other job on the machine, and time
        # the hypervisor gave to other guests (steal).
        out["server_core_other"] = round(max(0.0, server_core - ours), 3)
        out["load_core_other"] = round(max(0.0, load_core - sum(out.get(k, 0.0) for k in on_load)), 3)
    return out


# --------------------------------------------------------------------------------------------------
# Redis, started by the bench: appendonly yes, appendfsync always, no RDB snapshots.
# --------------------------------------------------------------------------------------------------


@dataclass
class RedisInfo:
    url: str
    pid: int
    version: str
    appendonly: str
    appendfsync: str


@contextmanager
def redis_server(
    directory: Path,
    transport: str,
    cpu: int | None,
    aof_rewrite: bool = True,  # Redis's default
) -> Iterator[tuple[redis.Redis, RedisInfo]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is missing: `make bench` installs it (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    if transport == "unix":
        listen = ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}?db=0"
    else:
        port = free_port()
        listen = ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    cmd = [binary, *listen, "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always",
           "--save", "", "--logfile", str(directory / "redis.log")]  # fmt: skip
    if not aof_rewrite:
        cmd += ["--auto-aof-rewrite-percentage", "0"]
    log = directory / "redis.stdout"
    with running(pinned(cmd, cpu), log) as proc:
        client = redis.Redis.from_url(url, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise BenchError(f"redis-server exited with {proc.returncode}:\n{tail(directory / 'redis.log')}")
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise BenchError("redis-server did not answer PING within 10s") from None
                time.sleep(0.02)
        conf = {_text(k): _text(v) for k, v in client.config_get("append*").items()}
        version = str(client.info("server").get("redis_version", "?"))
        info = RedisInfo(url, proc.pid, version, conf.get("appendonly", "?"), conf.get("appendfsync", "?"))
        try:
            yield client, info
        finally:
            client.close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_forks(client: redis.Redis) -> int:
    return int(client.info("stats").get("total_forks", 0))


def count_keys(client: redis.Redis, pattern: str = DEDUPE_PATTERN) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=10_000))


def settle(client: redis.Redis, key: str, quiet_s: float = 0.25, limit_s: float = 5.0) -> int:
    """LLEN once it stopped moving: commits still in flight when wrk stopped belong to the window they started in."""
    deadline = time.monotonic() + limit_s
    last = int(client.llen(key))
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = int(client.llen(key))
        if now == last:
            return now
        last = now
    return last


# --------------------------------------------------------------------------------------------------
# Load: wrk with bench/wrk_signed.lua.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    connections: int
    threads: int
    timeout_s: float
    cpu: int | None


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    non_2xx: int
    statuses: dict[str, int]
    errors: dict[str, int]
    latency_us: dict[str, float]
    sent: int
    next_index: int  # the first request line no wrk thread has sent: where the next run starts
    prepared: int
    wrapped: int
    raw: dict[str, Any] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")

    def ms(self, pct: str) -> float:
        return round(self.latency_us[pct] / 1000.0, 3)


def run_wrk(
    load: Load,
    port: int,
    path: str,
    requests_file: Path,
    first: int,
    duration_s: float,
    log: Path,
    watch: dict[str, int] | None = None,
    layout: Layout | None = None,
) -> WrkResult:
    """One wrk run. With `watch` (name -> pid, the server first), also the CPU those processes used under load."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is missing: `make bench` installs it (apt-get install wrk)")
    cmd = [
        wrk, f"-t{load.threads}", f"-c{load.connections}", f"-d{duration_s:g}s", f"--timeout={load.timeout_s:g}s",
        "-s", str(LUA), f"http://127.0.0.1:{port}{path}", "--", str(requests_file), str(first), str(load.threads),
    ]  # fmt: skip
    with subprocess.Popen(
        pinned(cmd, load.cpu), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    ) as proc:
        cpu = sample_cpu(proc, {**watch, "wrk": proc.pid}, duration_s, layout) if watch and layout else {}
        stdout, stderr = proc.communicate()
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n{stdout}{stderr}\n")
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{stdout[-2000:]}{stderr[-2000:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        statuses=raw["statuses"],
        errors=raw["errors"],
        latency_us=raw["latency_us"],
        sent=raw["sent"],
        next_index=raw["next_index"],
        prepared=raw["prepared"],
        wrapped=raw["wrapped"],
        raw=raw,
        cpu=cpu,
    )


def sample_cpu(
    wrk: subprocess.Popen[str], watch: dict[str, int], duration_s: float, layout: Layout
) -> dict[str, float]:
    """CPU use in the steady middle of the run: from when the server starts working (wrk has read its requests
    file by then) for 80% of the duration. Per wall-clock second, so 1.0 is one core fully used."""
    server = next(iter(watch))
    deadline = time.monotonic() + 120
    last = cpu_snapshot(watch).procs.get(server, 0)
    while wrk.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        now = cpu_snapshot(watch).procs.get(server, 0)
        if now - last >= 3:  # 30 ms of CPU in 50 ms: the load has started
            break
        last = now
    a, t_a = cpu_snapshot(watch), time.monotonic()
    end = t_a + duration_s * 0.8
    while wrk.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    b, t_b = cpu_snapshot(watch), time.monotonic()
    return {**cpu_usage(a, b, t_b - t_a, layout), "window_s": round(t_b - t_a, 2)}


# --------------------------------------------------------------------------------------------------
# The gateway's /metrics.
# --------------------------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN|[+-]Inf)$")


def scrape(port: int) -> dict[str, float]:
    """Every sample of /metrics, keyed by name plus labels as printed (`intake_committed_total{channel="webform"}`)."""
    status, body = http_get(port, "/metrics")
    if status != 200:
        return {}
    out: dict[str, float] = {}
    for line in body.decode(errors="replace").splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


# --------------------------------------------------------------------------------------------------
# The two servers under the same load.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    mode: Mode
    load: Load
    layout: Layout
    duration_s: float
    warmup_s: float
    rounds: int
    work: Path
    redis_transport: str
    aof_rewrite: bool
    profile: Path | None
    profile_rate: int
    profile_gil: bool
    profile_native: bool

    def wrk(self, port: int, requests: Path, first: int, seconds: float, watch: dict[str, int] | None) -> WrkResult:
        return run_wrk(
            self.load, port, self.mode.path, requests, first, seconds, self.work / "wrk.log", watch, self.layout
        )


@dataclass(frozen=True, slots=True)
class BareApp:
    port: int
    pid: int
    requests: RequestSet

    def run(self, plan: Plan, seconds: float, measure: bool = True) -> WrkResult:
        """The bare app does not deduplicate: every run cycles through the same requests."""
        result = plan.wrk(self.port, self.requests.file, 0, seconds, {"bare": self.pid} if measure else None)
        if measure:
            say(f"bare app: {result.ok / result.duration_s:,.0f} 2xx/s, p99 {result.ms('p99')} ms, cpu {result.cpu}")
        return result


@contextmanager
def bare_app(plan: Plan, requests: RequestSet) -> Iterator[BareApp]:
    port = free_port()
    log = plan.work / "bare.log"
    cmd = pinned([sys.executable, str(BARE_APP), "--port", str(port)], plan.layout.server_cpu)
    say(f"bare app on :{port}")
    with running(cmd, log, env=child_env({})) as proc:
        wait_healthy(port, proc, log, "bare app")
        yield BareApp(port, proc.pid, requests)


def write_gateway_config(plan: Plan, redis_url: str, port: int) -> Path:
    base = yaml.safe_load(DEFAULT_CONFIG.read_text())
    base["data_dir"] = str(plan.work / "data")
    base["secret_key"] = "bench-" + secrets.token_hex(16)
    base["redis"]["url"] = redis_url
    base["server"]["host"] = "127.0.0.1"
    base["server"]["port"] = port
    base["server"]["public_base_url"] = f"http://127.0.0.1:{port}"
    base["logging"]["level"] = "WARNING"
    _merge(base, plan.mode.gateway_config())
    path = plan.work / "gateway.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True))
    return path


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


@contextmanager
def profiling(plan: Plan, pid: int, seconds: float) -> Iterator[None]:
    """py-spy on the load core while the measured window runs (it takes CPU from wrk; the JSON says so)."""
    if plan.profile is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    fmt = "speedscope" if plan.profile.suffix == ".json" else ("raw" if plan.profile.suffix == ".txt" else "flamegraph")
    # --native has to pause the process for each sample; otherwise read it without stopping it.
    flags = ["--native"] if plan.profile_native else ["--nonblocking"]
    if plan.profile_gil:
        flags.append("--gil")
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds + 1)), "--rate", str(plan.profile_rate),
           "--format", fmt, "--output", str(plan.profile), "--threads", *flags]  # fmt: skip
    with running(pinned(cmd, plan.layout.load_cpu), plan.work / "py-spy.log") as proc:
        yield
        with suppress(subprocess.TimeoutExpired):
            proc.wait(seconds + 15)
    say(f"profile written to {plan.profile}")


@dataclass(frozen=True, slots=True)
class GatewayRun:
    result: WrkResult
    committed: int  # growth of the deliver queue: what Redis holds, not what HTTP said
    batches: int
    batched: int
    counters: dict[str, int]  # /metrics counters over the window: committed, duplicates, spooled, rejected
    forks: int  # Redis forks (AOF rewrites) during the window: each copies the whole dataset on the server's core

    @property
    def per_s(self) -> float:
        return self.committed / self.result.duration_s


@dataclass
class Gateway:
    """`intake serve` with its own redis-server. Never resends a request: each one is a new message."""

    plan: Plan
    requests: RequestSet
    client: redis.Redis
    redis: RedisInfo
    port: int
    pid: int
    log: Path
    queue: str
    next_index: int = 0
    profiled: bool = False

    def run(self, seconds: float, measure: bool = True) -> GatewayRun:
        if self.next_index >= self.requests.count:
            raise BenchError(f"all {self.requests.count} distinct requests were used: raise --requests")
        before_len = settle(self.client, self.queue)
        before = scrape(self.port)
        forks_before = redis_forks(self.client)
        watch = {"gateway": self.pid, "redis": self.redis.pid} if measure else None
        profile = measure and not self.profiled
        with profiling(self.plan, self.pid, seconds) if profile else nullcontext():
            result = self.plan.wrk(self.port, self.requests.file, self.next_index, seconds, watch)
        self.profiled = self.profiled or profile
        # Past every line any wrk thread took (request() is called when a request is written, so requests cut off
        # when wrk stopped are counted too).
        self.next_index = result.next_index
        after_len = settle(self.client, self.queue)
        after = scrape(self.port)
        ch = f'{{channel="{self.plan.mode.name}"}}'
        counters = {
            name: int(delta(before, after, f"intake_{name}_total{ch}"))
            for name in ("received", "committed", "duplicates", "spooled", "unavailable")
        }
        run = GatewayRun(
            result,
            after_len - before_len,
            int(delta(before, after, "intake_commit_batch_size_count")),
            int(delta(before, after, "intake_commit_batch_size_sum")),
            counters,
            redis_forks(self.client) - forks_before,
        )
        if measure:
            say(f"gateway: {run.per_s:,.0f} commits/s, p99 {result.ms('p99')} ms, cpu {result.cpu}")
        return run

    def totals(self) -> dict[str, int]:
        return {"queue_len_total": int(self.client.llen(self.queue)), "dedupe_keys_total": count_keys(self.client)}

    def log_lines(self) -> list[str]:
        return [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]


@contextmanager
def gateway(plan: Plan, requests: RequestSet) -> Iterator[Gateway]:
    with redis_server(plan.work / "redis", plan.redis_transport, plan.layout.redis_cpu, plan.aof_rewrite) as (
        client,
        info,
    ):
        say(f"redis-server {info.version} at {info.url}: appendonly {info.appendonly}, appendfsync {info.appendfsync}")
        port = free_port()
        config = write_gateway_config(plan, info.url, port)
        backend = yaml.safe_load(config.read_text())["backends"]["default"]
        log = plan.work / "gateway.log"
        cmd = pinned([sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"], plan.layout.server_cpu)
        say(f"gateway on :{port} (intake serve, logging WARNING)")
        with running(cmd, log, env=child_env(plan.mode.gateway_env())) as proc:
            wait_healthy(port, proc, log, "gateway")
            gw = Gateway(plan, requests, client, info, port, proc.pid, log, DELIVER_QUEUE_KEY.format(backend=backend))
            yield gw
            if proc.poll() is not None:
                raise BenchError(f"the gateway exited during the run:\n{tail(log)}")


# --------------------------------------------------------------------------------------------------
# The JSON line.
# --------------------------------------------------------------------------------------------------


def contended(result: WrkResult) -> bool:
    """Another job took a real share of a core we measured on: the numbers are not only this code's."""
    return any(result.cpu.get(k, 0.0) > CONTENDED_SHARE for k in ("server_core_other", "load_core_other"))


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()


def git_head() -> str:
    """The commit measured, with "+dirty" when tracked files differ from it."""
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def median_cpu(results: list[WrkResult]) -> dict[str, float]:
    keys_ = sorted({k for r in results for k in r.cpu})
    return {k: round(statistics.median(r.cpu[k] for r in results if k in r.cpu), 3) for k in keys_}


def cpu_us_per(result: WrkResult, process: str, per_s: float) -> float | None:
    """CPU microseconds one message (or request) costs the server process: steadier than rates on a noisy VM."""
    used = result.cpu.get(f"{process}_cpu")
    return round(used / per_s * 1e6, 1) if used is not None and per_s > 0 else None


def round_summary(bare: WrkResult, gw: GatewayRun) -> dict[str, Any]:
    bare_per_s = bare.ok / bare.duration_s
    return {
        "committed_per_s": round(gw.per_s, 1),
        "bare_per_s": round(bare_per_s, 1),
        "ratio": round(gw.per_s / bare_per_s, 4) if bare_per_s else 0.0,
        "gateway_cpu_us_per_msg": cpu_us_per(gw.result, "gateway", gw.per_s),
        "bare_cpu_us_per_req": cpu_us_per(bare, "bare", bare_per_s),
        "p50_ms": gw.result.ms("p50"),
        "p99_ms": gw.result.ms("p99"),
        "bare_p99_ms": bare.ms("p99"),
        "mean_batch_size": round(gw.batched / gw.batches, 2) if gw.batches else None,
        "redis_forks": gw.forks,
        "contended": contended(bare) or contended(gw.result),
    }


def report(
    plan: Plan,
    bares: list[WrkResult],
    runs: list[GatewayRun],
    gw: Gateway,
    git: str,
) -> dict[str, Any]:
    """Headline numbers are medians over the rounds (with one round: that round)."""
    rounds = [round_summary(b, g) for b, g in zip(bares, runs, strict=True)]
    results = [g.result for g in runs]

    def med(key: str) -> float:
        return round(float(statistics.median(r[key] for r in rounds)), 4 if key == "ratio" else 3)

    def med_or_none(key: str) -> float | None:
        values = [r[key] for r in rounds if r[key] is not None]
        return round(float(statistics.median(values)), 1) if values else None

    def med_ms(pct: str, of: list[WrkResult]) -> float:
        return round(statistics.median(r.ms(pct) for r in of), 3)

    batches = sum(g.batches for g in runs)
    ratio, p99 = med("ratio"), med("p99_ms")
    non_2xx = sum(r.non_2xx for r in results)
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    out: dict[str, Any] = {
        "bench": "intake_throughput",
        "mode": plan.mode.name,
        "path": plan.mode.path,
        "committed_per_s": med("committed_per_s"),
        "bare_per_s": med("bare_per_s"),
        "ratio": ratio,
        "p50_ms": med("p50_ms"),
        "p90_ms": med_ms("p90", results),
        "p99_ms": p99,
        "p999_ms": med_ms("p999", results),
        "max_ms": max(r.ms("max") for r in results),
        "non_2xx": non_2xx,
        "non_2xx_by_status": statuses,
        "socket_errors": sum(r.socket_errors for r in results),
        "connections": plan.load.connections,
        "wrk_threads": plan.load.threads,
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "rounds": len(rounds),
        "measured_s": round(sum(r.duration_s for r in results), 3),
        "committed": sum(g.committed for g in runs),
        "gateway_2xx_per_s": round(statistics.median(r.ok / r.duration_s for r in results), 1),
        "gateway_cpu_us_per_msg": med_or_none("gateway_cpu_us_per_msg"),
        "bare_cpu_us_per_req": med_or_none("bare_cpu_us_per_req"),
        "mean_batch_size": round(sum(g.batched for g in runs) / batches, 2) if batches else None,
        "commit_batches": batches,
        "counters": {k: sum(g.counters[k] for g in runs) for k in runs[0].counters},
        **gw.totals(),
        "bare_p50_ms": med_ms("p50", bares),
        "bare_p99_ms": med_ms("p99", bares),
        "bare_non_2xx": sum(b.non_2xx for b in bares),
        "cpu": median_cpu(results),
        "bare_cpu": median_cpu(bares),
        "contended": any(r["contended"] for r in rounds),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "layout": plan.layout.describe(),
        "redis_version": gw.redis.version,
        "appendonly": gw.redis.appendonly,
        "appendfsync": gw.redis.appendfsync,
        "redis_transport": plan.redis_transport,
        "aof_rewrite": plan.aof_rewrite,
        "redis_forks_in_window": sum(g.forks for g in runs),
        "redis_dir_fs": filesystem_of(plan.work),
        "distinct_requests": gw.requests.count,
        "distinct_exhausted": any(r.wrapped for r in results),
        "mean_body_bytes": round(gw.requests.mean_body_bytes, 1),
        "gateway_log_lines": len(gw.log_lines()),
        "profiled": plan.profile is not None,
        "targets": {"ratio_min": plan.mode.target_ratio, "p99_ms_max": plan.mode.target_p99_ms},
        "meets_targets": ratio >= plan.mode.target_ratio and p99 < plan.mode.target_p99_ms and non_2xx == 0,
        "git": git,
        "python": platform.python_version(),
        # Which build: a distribution's (optimized) CPython or a pyenv/source one changes every number here.
        "python_home": str(Path(os.path.realpath(sys.executable)).parent),
        "cpus": os.cpu_count(),
        "generate_s": round(gw.requests.generate_s, 2),
    }
    if len(rounds) > 1:
        out["per_round"] = rounds
    return out


# --------------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=sorted(MODES), default="webform", help="which channel's signed requests to send")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per server and round (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per server first (default 2)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate bare/gateway runs this many times; JSON has medians (default 1)",
    )
    p.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads, all on the load core (default 1)")
    p.add_argument("--timeout", type=float, default=5.0, help="wrk per-request timeout in seconds (default 5)")
    p.add_argument(
        "--requests", type=int, default=0, help="distinct signed requests for the gateway (default: enough for all)"
    )
    p.add_argument("--server-cpu", type=int, default=0, help="cpu for the server and redis-server (default 0)")
    p.add_argument("--load-cpu", type=int, default=1, help="cpu for wrk (default 1)")
    p.add_argument(
        "--redis-with-load",
        action="store_true",
        help="run redis-server on the load cpu (Redis as a separate shared service) instead of the server's",
    )
    p.add_argument(
        "--aof-rewrite",
        action="store_true",
        help="keep Redis's automatic AOF rewrite on. Off by default: the bench has no worker, so its dataset only "
        "grows, and a rewrite in the window forks Redis and copies that whole backlog on the server's core "
        "(bench/README.md); redis_forks_in_window counts them",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin anything to a cpu")
    p.add_argument(
        "--redis-transport",
        choices=("unix", "tcp"),
        default="unix",
        help="unix socket like the embedded Redis (default), or TCP like a REDIS_URL=redis://...",
    )
    p.add_argument("--workdir", type=Path, default=None, help="keep configs, logs and Redis files here")
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the gateway's first measured run into this file: .svg flamegraph, .json speedscope, .txt raw",
    )
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--profile-gil", action="store_true", help="py-spy --gil: only samples that hold the GIL")
    p.add_argument("--profile-native", action="store_true", help="py-spy --native: C frames too (zlib, syscalls)")
    p.add_argument("--check", action="store_true", help="exit 1 when the targets are not met")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.rounds < 1 or args.connections < 1 or args.threads < 1:
        p.error("--duration > 0, --warmup >= 0, --rounds >= 1, --connections >= 1 and --threads >= 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


@contextmanager
def workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        yield Path(tmp)


def bench(plan: Plan, distinct: int, git: str) -> dict[str, Any]:
    with ExitStack() as stack:
        # The bare app does not deduplicate: a short cycle of requests of the same shape will do.
        bare = stack.enter_context(bare_app(plan, write_requests(plan.mode, BARE_DISTINCT, plan.work / "bare.tsv")))
        if plan.warmup_s > 0:
            bare.run(plan, plan.warmup_s, measure=False)
        bares = [bare.run(plan, plan.duration_s)]
        # The gateway must never see a repeat (it would answer 202 without committing anything): enough distinct
        # requests to keep up with the bare app for every round, a rate no real gateway reaches.
        if not distinct:
            rate = bares[0].ok / bares[0].duration_s
            distinct = max(MIN_DISTINCT, int(rate * (plan.warmup_s + plan.duration_s * plan.rounds) * 1.25))
        distinct += plan.load.connections * plan.load.threads  # threads do not stop at the same line
        requests = write_requests(plan.mode, distinct, plan.work / "requests.tsv")
        say(f"{requests.count:,} distinct signed {plan.mode.name} requests in {requests.generate_s:.1f}s")
        gw = stack.enter_context(gateway(plan, requests))
        if plan.warmup_s > 0:
            gw.run(plan.warmup_s, measure=False)
        runs = [gw.run(plan.duration_s)]
        for _ in range(plan.rounds - 1):
            bares.append(bare.run(plan, plan.duration_s))
            runs.append(gw.run(plan.duration_s))
        lines = gw.log_lines()
        if lines:
            say(f"the gateway logged {len(lines)} line(s) at WARNING or above; the last:\n  {lines[-1][:500]}")
        return report(plan, bares, runs, gw, git)


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    try:
        layout = choose_layout(
            args.server_cpu, args.load_cpu, pin=not args.no_pin, redis_with_load=args.redis_with_load
        )
        if layout.load_cpu is not None:
            os.sched_setaffinity(0, {layout.load_cpu})  # this process mostly sleeps; keep it off the server's core
        git = git_head()  # before the servers start: the code they run
        with workdir(args.workdir) as work:
            say(f"working in {work}")
            plan = Plan(
                mode=MODES[args.mode](),
                load=Load(args.connections, args.threads, args.timeout, layout.load_cpu),
                layout=layout,
                duration_s=args.duration,
                warmup_s=args.warmup,
                rounds=args.rounds,
                work=work,
                redis_transport=args.redis_transport,
                aof_rewrite=args.aof_rewrite,
                profile=args.profile.resolve() if args.profile else None,
                profile_rate=args.profile_rate,
                profile_gil=args.profile_gil,
                profile_native=args.profile_native,
            )
            out = bench(plan, args.requests, git)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    if out["distinct_exhausted"]:
        say("warning: wrk cycled through every distinct request; raise --requests (repeats count as duplicates)")
    if out["counters"].get("duplicates"):
        say(f"warning: the gateway saw {out['counters']['duplicates']} duplicates: the bench resent requests")
    if out["contended"]:
        say("warning: other jobs took a large share of the measured cores (cpu.*_core_other): rerun when quiet")
    if out["non_2xx"]:
        say(f"warning: {out['non_2xx']} non-2xx answers from the gateway: {out['non_2xx_by_status']}")
    print(json.dumps(out, separators=(", ", ": ")), file=stdout, flush=True)
    return 1 if args.check and not out["meets_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
