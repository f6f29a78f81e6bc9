"""CPU placement and accounting for the benchmarks: which cores the measured code and the rest run on, and
how much of each core our processes used, read from /proc.

On a shared 2-core VM another job (or the hypervisor) can take a real share of the core being measured, so
every bench also reports what it could not account for and flags the run as contended.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A share of a measured core used by processes not ours above which the run is flagged as contended.
CONTENDED_SHARE = 0.25


def contended(*others: float) -> bool:
    """Another job took a real share of a core we measured on: the numbers are not only this code's."""
    return any(share > CONTENDED_SHARE for share in others)


# --------------------------------------------------------------------------------------------------
# Placement.
# --------------------------------------------------------------------------------------------------


def why_not_pinned(pin: bool, usable: set[int]) -> str:
    """Why nothing can be pinned ("" when it can): each bench then checks the cpus it was asked for."""
    if not pin:
        return "--no-pin"
    if shutil.which("taskset") is None:
        return "taskset (util-linux) is missing"
    if len(usable) < 2:
        return f"only {len(usable)} usable cpu"
    return ""


def unpinned(because: str) -> dict[str, Any]:
    """A layout's description when nothing was pinned."""
    return {"pinned": False, "note": f"nothing pinned: {because}"}


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """taskset before exec, so every thread the process starts later (rq, redis bio threads) is pinned too."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


@contextmanager
def on_cpus(cpus: set[int] | frozenset[int] | None) -> Iterator[None]:
    """Run this process (and whatever it starts meanwhile) on these cpus, then go back."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --------------------------------------------------------------------------------------------------
# Accounting.
# --------------------------------------------------------------------------------------------------


def _stat_fields(stat: Path) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses): field 3 onwards."""
    return stat.read_text().rsplit(")", 1)[1].split()


def proc_ticks(pid: int) -> int | None:
    """utime + stime of the whole process (all threads); None once it is gone."""
    try:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
    except (OSError, ValueError, IndexError):
        return None


def group_ticks(pgrp: int) -> int:
    """utime + stime of every live process of a process group (Dovecot's master and its imap children)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(stat)
            if int(fields[2]) == pgrp:
                total += int(fields[11]) + int(fields[12])
    return total


def group_times(pgrp: int) -> dict[int, tuple[int, int]]:
    """pid -> (user ticks, system ticks) of every live process of a process group."""
    out: dict[int, tuple[int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(stat)
            if int(fields[2]) == pgrp:
                out[int(stat.parent.name)] = (int(fields[11]), int(fields[12]))
    return out


def core_ticks() -> tuple[dict[int, int], dict[int, int]]:
    """cpu -> busy ticks (everything but idle and iowait), and cpu -> ticks the hypervisor gave another guest."""
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
    return cores, steal


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    cores: dict[int, int]  # cpu -> busy ticks
    steal: dict[int, int]  # cpu -> stolen ticks
    procs: dict[str, int]  # name -> user + system ticks of a process, or of a whole process group


def cpu_snapshot(pids: Mapping[str, int], groups: Mapping[str, int] | None = None) -> CpuSnapshot:
    cores, steal = core_ticks()
    procs = {name: t for name, pid in pids.items() if (t := proc_ticks(pid)) is not None}
    procs.update({name: group_ticks(pgrp) for name, pgrp in (groups or {}).items()})
    return CpuSnapshot(cores, steal, procs)


def per_s(ticks: int, seconds: float) -> float:
    """CPU seconds per wall-clock second: 1.0 is one core fully used."""
    return round(ticks / CLK_TCK / seconds, 3) if seconds > 0 else 0.0


def process_usage(a: CpuSnapshot, b: CpuSnapshot, seconds: float) -> dict[str, float]:
    """`<name>_cpu` of every process seen in both snapshots."""
    return {f"{name}_cpu": per_s(b.procs[name] - a.procs[name], seconds) for name in b.procs if name in a.procs}


def core_busy(a: CpuSnapshot, b: CpuSnapshot, cpu: int, seconds: float) -> float:
    return per_s(b.cores.get(cpu, 0) - a.cores.get(cpu, 0), seconds)


def core_steal(a: CpuSnapshot, b: CpuSnapshot, cpu: int, seconds: float) -> float:
    return per_s(b.steal.get(cpu, 0) - a.steal.get(cpu, 0), seconds)


def leader_and_others(
    leader: int, before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], seconds: float
) -> dict[tuple[str, str], float]:
    """A process group's CPU told apart (`group_times` before and after): ("leader" or "others", "user" or "sys")
    -> CPU seconds per second. A process started meanwhile counts from zero."""
    ticks = {(who, kind): 0 for who in ("leader", "others") for kind in ("user", "sys")}
    for pid, (user, system) in after.items():
        user0, system0 = before.get(pid, (0, 0))
        who = "leader" if pid == leader else "others"
        ticks[(who, "user")] += user - user0
        ticks[(who, "sys")] += system - system0
    return {key: per_s(t, seconds) for key, t in ticks.items()}
