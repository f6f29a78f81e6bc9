"""What every benchmark here shares: progress lines, child processes, the work directory, and the facts and
medians its one JSON line carries. CPU placement and accounting are in harness_cpu.py, the bench's own
redis-server in harness_redis.py.

The benchmarks run as scripts (`python bench/x.py`), so each puts the repository on sys.path and imports
`bench.harness`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "gateway.yaml"
# Environment variables that would override the config a bench writes (DESIGN.md section 10).
SCRUBBED_ENV = ("INTAKE_", "REDIS_", "PORT", "HOST", "PUBLIC_BASE_URL", "TWILIO_", "SLACK_", "META_", "WHATSAPP_",
                "RT_")  # fmt: skip


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The bench could not run (a missing tool, a server that did not start, a run that never finished): not a
    slow result."""


# --------------------------------------------------------------------------------------------------
# Child processes: in their own session, always stopped.
# --------------------------------------------------------------------------------------------------


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}
    env.update(extra or {})
    return env


@contextmanager
def running(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, cwd=cwd, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, wait_s: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait_s)
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


def py_spy_record(pid: int, output: Path, rate: int, *flags: str) -> list[str]:
    """The py-spy command line; its format follows the file's suffix (.json speedscope, .txt raw, else SVG)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    fmt = "speedscope" if output.suffix == ".json" else ("raw" if output.suffix == ".txt" else "flamegraph")
    return [spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", fmt, "--output", str(output), *flags]


# --------------------------------------------------------------------------------------------------
# Where a run works, and what it was: the facts that make two JSON lines comparable.
# --------------------------------------------------------------------------------------------------


@contextmanager
def workdir(path: Path | None, prefix: str) -> Iterator[Path]:
    """`path` kept afterwards (`--workdir`), or a temporary directory removed at the end."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


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


def git_head() -> str:
    """The commit measured, with "+dirty" when tracked files differ from it. Read it before the servers start:
    the code they run."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def provenance(git: str, *, python_home: bool = False) -> dict[str, Any]:
    """`git`, `python` (and with `python_home` which build), `cpus`: a distribution's optimized CPython and a
    pyenv/source build differ by more than most code changes, so the JSON says which one ran."""
    out: dict[str, Any] = {"git": git, "python": platform.python_version()}
    if python_home:
        out["python_home"] = str(Path(os.path.realpath(sys.executable)).parent)
    out["cpus"] = os.cpu_count()
    return out


def loadavg_1m() -> float:
    return round(os.getloadavg()[0], 2)


def median(values: Iterable[float], digits: int = 3) -> float:
    """The median over rounds, rounded: a VM's speed drifts, so headline numbers are medians, not means."""
    return round(float(statistics.median(values)), digits)


def median_by_key(rows: Iterable[Mapping[str, float]], digits: int = 3) -> dict[str, float]:
    """Per key, the median over the rows that have it (the CPU shares of each round)."""
    rows = list(rows)
    keys = sorted({k for r in rows for k in r})
    return {k: median((r[k] for r in rows if k in r), digits) for k in keys}


def print_json(out: Mapping[str, Any], stdout: TextIO, *, ensure_ascii: bool = True) -> None:
    """The bench's result: one line on stdout (progress went to stderr)."""
    print(json.dumps(out, ensure_ascii=ensure_ascii, separators=(", ", ": ")), file=stdout, flush=True)


def ticket_count(db: Path) -> int:
    """Tickets in the built-in store's SQLite file so far, read-only (0 before the store exists or is made)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
