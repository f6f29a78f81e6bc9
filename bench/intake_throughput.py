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
import http.client
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    REPO,
    BenchError,
    child_env,
    filesystem_of,
    free_port,
    git_head,
    loadavg_1m,
    median,
    median_by_key,
    print_json,
    provenance,
    py_spy_record,
    running,
    say,
    tail,
    workdir,
)
from bench.harness_cpu import pinned
from bench.harness_redis import RedisInfo, count_keys, deliver_queue, redis_forks, redis_server
from bench.throughput_load import Layout, Load, WrkResult, choose_layout, run_wrk
from bench.throughput_modes import MODES, Mode, RequestSet, gateway_config, write_requests
from gateway.settings import load_settings

BARE_APP = REPO / "bench" / "bare_app.py"
# The bare app does not deduplicate, so a short cycle of requests does; the gateway gets at least MIN_DISTINCT.
BARE_DISTINCT = 10_000
MIN_DISTINCT = 30_000


# --------------------------------------------------------------------------------------------------
# Processes: the servers under test answer /healthz when they are up.
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# What the gateway committed: its deliver queue in Redis, and its /metrics.
# --------------------------------------------------------------------------------------------------


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
    path = plan.work / "gateway.yaml"
    path.write_text(yaml.safe_dump(gateway_config(plan.mode, plan.work, redis_url, port), allow_unicode=True))
    return path


@contextmanager
def profiling(plan: Plan, pid: int, seconds: float) -> Iterator[None]:
    """py-spy on the load core while the measured window runs (it takes CPU from wrk; the JSON says so)."""
    if plan.profile is None:
        yield
        return
    # --native has to pause the process for each sample; otherwise read it without stopping it.
    flags = ["--native"] if plan.profile_native else ["--nonblocking"]
    if plan.profile_gil:
        flags.append("--gil")
    cmd = py_spy_record(pid, plan.profile, plan.profile_rate, "--duration", str(int(seconds + 1)), "--threads", *flags)
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
        ch = f'{{channel="{self.plan.mode.channel or self.plan.mode.name}"}}'
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
        # As the gateway reads it: the shipped default is `${INTAKE_BACKEND:-builtin}`, not a name.
        backend = load_settings(config, env=child_env(plan.mode.gateway_env())).backends.default
        log = plan.work / "gateway.log"
        cmd = pinned([sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"], plan.layout.server_cpu)
        say(f"gateway on :{port} (intake serve, logging WARNING)")
        with running(cmd, log, env=child_env(plan.mode.gateway_env())) as proc:
            wait_healthy(port, proc, log, "gateway")
            gw = Gateway(plan, requests, client, info, port, proc.pid, log, deliver_queue(backend))
            yield gw
            if proc.poll() is not None:
                raise BenchError(f"the gateway exited during the run:\n{tail(log)}")


# --------------------------------------------------------------------------------------------------
# The JSON line.
# --------------------------------------------------------------------------------------------------


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
        "contended": bare.contended or gw.result.contended,
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
        return median((r[key] for r in rounds), 4 if key == "ratio" else 3)

    def med_or_none(key: str) -> float | None:
        values = [r[key] for r in rounds if r[key] is not None]
        return median(values, 1) if values else None

    def med_ms(pct: str, of: list[WrkResult]) -> float:
        return median(r.ms(pct) for r in of)

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
        "gateway_2xx_per_s": median((r.ok / r.duration_s for r in results), 1),
        "gateway_cpu_us_per_msg": med_or_none("gateway_cpu_us_per_msg"),
        "bare_cpu_us_per_req": med_or_none("bare_cpu_us_per_req"),
        "mean_batch_size": round(sum(g.batched for g in runs) / batches, 2) if batches else None,
        "commit_batches": batches,
        "counters": {k: sum(g.counters[k] for g in runs) for k in runs[0].counters},
        **gw.totals(),
        "bare_p50_ms": med_ms("p50", bares),
        "bare_p99_ms": med_ms("p99", bares),
        "bare_non_2xx": sum(b.non_2xx for b in bares),
        "cpu": median_by_key(r.cpu for r in results),
        "bare_cpu": median_by_key(b.cpu for b in bares),
        "contended": any(r["contended"] for r in rounds),
        "loadavg_1m": loadavg_1m(),
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
        **provenance(git, python_home=True),
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
        with workdir(args.workdir, "intake-bench-") as work:
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
    print_json(out, stdout)
    return 1 if args.check and not out["meets_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
