"""Load and CPU accounting for bench/intake_throughput.py: where the server, Redis and wrk run, and one wrk run
(bench/wrk_signed.lua replaying a file of signed requests) with the CPU each process used under it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import REPO, BenchError
from bench.harness_cpu import (
    CpuSnapshot,
    contended,
    core_busy,
    core_steal,
    cpu_snapshot,
    pinned,
    process_usage,
    unpinned,
    why_not_pinned,
)

LUA = REPO / "bench" / "wrk_signed.lua"

# --------------------------------------------------------------------------------------------------
# Placement: the server under test on one core, wrk on the other; Redis with either.
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
            return unpinned(self.unpinned_because)
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
    if because := why_not_pinned(pin, usable):
        return Layout(None, None, because)
    if server_cpu not in usable or load_cpu not in usable or server_cpu == load_cpu:
        raise BenchError(
            f"--server-cpu {server_cpu} / --load-cpu {load_cpu}: need two distinct cpus of {sorted(usable)}"
        )
    return Layout(server_cpu, load_cpu, redis_with_load=redis_with_load)


def cpu_usage(a: CpuSnapshot, b: CpuSnapshot, seconds: float, layout: Layout) -> dict[str, float]:
    """CPU seconds per second of `seconds`: 1.0 is one core fully used."""
    out = process_usage(a, b, seconds)
    if layout.server_cpu is not None and layout.load_cpu is not None:
        server_core = core_busy(a, b, layout.server_cpu, seconds)
        load_core = core_busy(a, b, layout.load_cpu, seconds)
        # Redis counts on the core it was pinned to (`--redis-with-load` puts it with wrk).
        on_load = {"wrk_cpu", "redis_cpu"} if layout.redis_with_load else {"wrk_cpu"}
        ours = sum(v for k, v in out.items() if k not in on_load)
        out["server_core_busy"] = server_core
        out["server_core_steal"] = core_steal(a, b, layout.server_cpu, seconds)
        out["load_core_busy"] = load_core
        # What else ran there: the kernel's share of loopback networking, any other job on the machine, and time
        # the hypervisor gave to other guests (steal).
        out["server_core_other"] = round(max(0.0, server_core - ours), 3)
        out["load_core_other"] = round(max(0.0, load_core - sum(out.get(k, 0.0) for k in on_load)), 3)
    return out


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

    @property
    def contended(self) -> bool:
        return contended(self.cpu.get("server_core_other", 0.0), self.cpu.get("load_core_other", 0.0))


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
