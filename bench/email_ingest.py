"""Email ingestion: messages/s through the real IMAP poller, next to a bare aioimaplib fetch-and-parse loop.

One run, one Dovecot, the same mixed mail (plain, Outlook HTML, multipart/alternative, attachments, replies,
Spanish/Vietnamese/Chinese, legacy charsets; seeded, so every run sees the same bytes):

1. ceiling: a bare aioimaplib loop (the library the gateway uses) that SELECTs the INBOX, UID SEARCHes it,
   UID FETCHes (UID BODY.PEEK[]) in batches of `channels.email.fetch_batch` and parses each message with
   `email.message_from_bytes(raw, policy=email.policy.default)`, and does nothing else -> ceiling_messages_per_s;
2. gateway: the real `python -m gateway.cli --config X mail` with its own redis-server (appendonly yes,
   appendfsync always). It is started on a warm-up mailbox, and once it is idle the measured messages are
   copied into its INBOX in one IMAP command; the clock runs from that command until every message is
   committed (LLEN rq:queue:deliver-builtin) and moved (Processed) -> messages_per_s.

The measured code (the ceiling loop, then the gateway process) runs on one cpu, Dovecot, Redis and this
script's own bookkeeping on the others. Progress goes to stderr; one JSON line goes to stdout (bench/README.md).

    .venv/bin/python bench/email_ingest.py [--messages 2000] [--profile /tmp/mail.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import imaplib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml
from aioimaplib import aioimaplib

# The repository: bench.* and tests.support (the same Dovecot and configuration the tests use).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_tree import baseline_tree, known_to
from bench.harness import (
    DEFAULT_CONFIG,
    REPO,
    BenchError,
    child_env,
    filesystem_of,
    git_head,
    loadavg_1m,
    median,
    print_json,
    provenance,
    py_spy_record,
    running,
    say,
    stop,
    tail,
    workdir,
)
from bench.harness_cpu import (
    CLK_TCK,
    CpuSnapshot,
    contended,
    core_busy,
    core_steal,
    core_ticks,
    cpu_snapshot,
    group_times,
    leader_and_others,
    on_cpus,
    pinned,
    process_usage,
    unpinned,
    why_not_pinned,
)
from bench.harness_redis import RedisInfo, count_keys, deliver_queue, redis_server
from bench.mail_corpus import build_corpus
from gateway.keys import mail_health as health_key
from tests.channels.email_support import BORDER, mailbox_conf
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import write_config

# The targets: at least half the bare loop's rate, and at least 300 messages/s.
TARGET_RATIO = 0.5
TARGET_PER_S = 600.0
CEILING_USER, CEILING_PASSWORD = "ceiling", "ceiling-pw"
BASELINE_USER = "baseline"  # --baseline: the old code's own mailbox (and Redis), the same mail
USERS = {IMAP_USER: IMAP_PASSWORD, BASELINE_USER: "baseline-pw"}
MAILBOX = "help"  # the mailbox's name in the gateway's configuration
STAGING = "Staging"  # the measured messages wait here, then arrive in the INBOX in one COPY
DELIVER_QUEUE = deliver_queue()  # no worker runs: every committed message stays on it
_LITERAL = re.compile(rb"\{(\d+)\}$")


# --------------------------------------------------------------------------------------------------
# CPU placement and accounting: the measured code on one cpu; Dovecot, Redis and this script on the others.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    measured_cpu: int | None  # the ceiling loop and the gateway process
    other_cpus: frozenset[int] | None  # Dovecot, Redis, this script's waiting and polling
    unpinned_because: str = ""

    def describe(self) -> dict[str, Any]:
        if self.measured_cpu is None or self.other_cpus is None:
            return unpinned(self.unpinned_because)
        others = ",".join(map(str, sorted(self.other_cpus)))
        return {
            "pinned": True,
            "measured_cpu": self.measured_cpu,
            "dovecot_cpus": others,
            "redis_cpus": others,
            "bench_cpus": others,
            "note": f"ceiling loop and gateway `intake mail` on cpu {self.measured_cpu}; "
            f"Dovecot, redis-server and the bench's polling on cpu {others}",
        }


def choose_layout(measured_cpu: int, pin: bool) -> Layout:
    usable = os.sched_getaffinity(0)
    if because := why_not_pinned(pin, usable):
        return Layout(None, None, because)
    if measured_cpu not in usable:
        raise BenchError(f"--cpu {measured_cpu} is not one of the usable cpus {sorted(usable)}")
    return Layout(measured_cpu, frozenset(usable - {measured_cpu}))


@dataclass
class CpuWatch:
    """CPU seconds per wall-clock second of named processes and process groups, and of the measured core."""

    procs: dict[str, int]
    groups: dict[str, int]
    split: int = 0  # a process group whose leader and other processes are told apart, user and system time
    started: float = 0.0
    before: CpuSnapshot | None = None
    split_before: dict[int, tuple[int, int]] = field(default_factory=dict)

    def start(self) -> None:
        self.split_before = group_times(self.split) if self.split else {}
        self.before, self.started = cpu_snapshot(self.procs, self.groups), time.monotonic()

    def stop(self, layout: Layout) -> dict[str, float]:
        after, seconds = cpu_snapshot(self.procs, self.groups), time.monotonic() - self.started
        before = self.before or after
        out = process_usage(before, after, seconds)
        if self.split:
            split = leader_and_others(self.split, self.split_before, group_times(self.split), seconds)
            names = {"leader": "poller", "others": "parsers"}
            out.update({f"{names[who]}_{kind}_cpu": v for (who, kind), v in split.items()})
        if layout.measured_cpu is not None:
            core = layout.measured_cpu
            busy = core_busy(before, after, core, seconds)
            out["measured_core_busy"] = busy
            # What else ran there: the kernel's share of loopback, another job, the hypervisor's steal.
            out["measured_core_other"] = round(max(0.0, busy - out.get("gateway_cpu", out.get("bench_cpu", 0.0))), 3)
            out["measured_core_steal"] = core_steal(before, after, core, seconds)
        return out


# --------------------------------------------------------------------------------------------------
# The ceiling: fetch and parse, nothing else.
# --------------------------------------------------------------------------------------------------


def _ok(resp: Any, what: str) -> Any:
    if resp.result != "OK":
        raise BenchError(f"ceiling: {what} refused: {resp.result} {resp.lines[-1:]!r}")
    return resp


@dataclass(frozen=True, slots=True)
class CeilingRun:
    messages: int
    bytes: int
    elapsed_s: float  # SELECT to the last parse: the ceiling
    imap_s: float  # of which SELECT, SEARCH and the FETCHes (aioimaplib reading the literals)
    parse_s: float  # of which email.message_from_bytes(raw, policy=email.policy.default)
    compat32_parse_s: float  # the same bytes parsed with policy=compat32 (what normalizers/email.py uses), untimed
    cpu_s: float
    core_other: float | None  # share of the measured cpu used by anything but this process

    @property
    def per_s(self) -> float:
        return self.messages / self.elapsed_s


async def ceiling_pass(host: str, port: int, user: str, password: str, batch: int) -> CeilingRun:
    """Logged in first (the gateway is connected too when its clock starts); timed from SELECT to the last parse."""
    client = aioimaplib.IMAP4(host, port, timeout=60)
    await client.wait_hello_from_server()
    _ok(await client.login(user, password), "LOGIN")
    parse, policy, clock = email.message_from_bytes, email.policy.default, time.perf_counter
    raws: list[bytes] = []
    parse_s = 0.0
    cpu0, t0 = time.process_time(), clock()
    _ok(await client.select("INBOX"), "SELECT")
    search = _ok(await client.uid_search("UID", "1:*", charset=None), "UID SEARCH")
    uids = sorted({int(tok) for line in search.lines[:-1] for tok in bytes(line).split() if tok.isdigit()})
    for start in range(0, len(uids), batch):
        chunk = ",".join(map(str, uids[start : start + batch]))
        resp = _ok(await client.uid("fetch", chunk, "(UID BODY.PEEK[])"), "UID FETCH")
        lines = resp.lines
        p0 = clock()
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and _LITERAL.search(line):
                raw = bytes(lines[i + 1])
                parse(raw, policy=policy)
                raws.append(raw)
        parse_s += clock() - p0
    elapsed, cpu = clock() - t0, time.process_time() - cpu0
    with suppress(Exception):
        await asyncio.wait_for(client.logout(), 5)
    p0 = clock()
    for raw in raws:
        parse(raw, policy=email.policy.compat32)
    compat32_s = clock() - p0
    return CeilingRun(len(raws), sum(map(len, raws)), elapsed, elapsed - parse_s, parse_s, compat32_s, cpu, None)


def run_ceiling(dovecot: Dovecot, batch: int, rounds: int, expect: int, layout: Layout) -> list[CeilingRun]:
    runs: list[CeilingRun] = []
    core = layout.measured_cpu
    with on_cpus({core} if core is not None else None):
        for _ in range(rounds):
            before, own, t0 = core_ticks()[0], time.process_time(), time.monotonic()
            run = asyncio.run(ceiling_pass(dovecot.host, dovecot.port, CEILING_USER, CEILING_PASSWORD, batch))
            if core is not None:
                busy = (core_ticks()[0].get(core, 0) - before.get(core, 0)) / CLK_TCK
                other = max(0.0, busy - (time.process_time() - own)) / (time.monotonic() - t0)
                run = replace(run, core_other=round(other, 3))
            if run.messages != expect:
                raise BenchError(f"ceiling: fetched {run.messages} messages, expected {expect}")
            say(f"ceiling: {run.per_s:,.0f} messages/s ({run.elapsed_s:.3f} s: imap {run.imap_s:.3f} s, "
                f"parse {run.parse_s:.3f} s; compat32 would parse in {run.compat32_parse_s:.3f} s)")  # fmt: skip
            runs.append(run)
    return runs


# --------------------------------------------------------------------------------------------------
# The gateway: `intake mail`, its redis-server, the clock.
# --------------------------------------------------------------------------------------------------


def folder_count(client: imaplib.IMAP4, folder: str) -> int:
    """MESSAGES of a folder; 0 for one the gateway has not created yet."""
    typ, data = client.status(folder, "(MESSAGES)")
    if typ == "NO" and data and isinstance(data[0], bytes) and b"doesn't exist" in data[0]:
        return 0
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        raise BenchError(f"STATUS {folder}: {typ} {data!r}")
    m = re.search(rb"MESSAGES (\d+)", data[0])
    if m is None:
        raise BenchError(f"STATUS {folder}: {data!r}")
    return int(m.group(1))


def wait_until(what: str, ready: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise BenchError(f"the gateway exited with {proc.returncode} while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not after {timeout:g} s. Gateway log:\n{tail(log)}")
        time.sleep(0.02)


@contextmanager
def profiling(plan: Plan, pid: int) -> Iterator[None]:
    """py-spy on the other cpus for the measured window, stopped with SIGINT (it writes its file then)."""
    path = plan.profile
    if path is None:
        yield
        return
    flags = ["--nonblocking", *(["--gil"] if plan.profile_gil else []), *(["--idle"] if plan.profile_idle else [])]
    flags += ["--subprocesses"] if plan.profile_parsers else []
    cmd = py_spy_record(pid, path, plan.profile_rate, *flags)
    with on_cpus(plan.layout.other_cpus), (plan.work / "py-spy.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        stop(proc, signal.SIGINT, 30)
        say(f"profile written to {path}")


@dataclass(frozen=True, slots=True)
class GatewayRun:
    elapsed_s: float
    copy_s: float
    committed: int
    processed: int
    quarantined: int
    inbox_left: int
    dedupe_keys: int
    cpu: dict[str, float]
    finished: bool
    log_lines: list[str]  # what the gateway logged (at --log-level or above) while the clock ran
    started_at: str

    @property
    def moved(self) -> int:
        return self.processed + self.quarantined

    @property
    def reconnects(self) -> int:
        return sum("reconnecting" in line for line in self.log_lines)


@dataclass(frozen=True, slots=True)
class Plan:
    messages: int
    warmup: int
    batch: int
    layout: Layout
    work: Path
    log_level: str
    timeout_s: float
    profile: Path | None
    profile_rate: int
    profile_gil: bool
    profile_idle: bool
    profile_parsers: bool
    user: str = IMAP_USER  # the gateway's mailbox on the bench's Dovecot
    code: Path = REPO  # the code `intake mail` runs: this tree, or a --baseline worktree


def gateway_config(plan: Plan, dovecot: Dovecot, redis_url: str) -> Path:
    """As the email tests write it (tests/support/gateway.write_config, tests/channels/email_support.mailbox_conf),
    with the shipped Redis socket timeout instead of the tests' 0.5 s, and quieter logging.

    The poll interval stays the shipped 60 s (the tests' 0.5 s is for stepping through passes): the poller IDLEs
    after its warm-up pass and the COPY wakes it. An IDLE that ends without news is treated as a broken
    connection by the poller (a reconnect, with a backoff that doubles each time), which must not happen
    inside the measured window: see `reconnects` in the JSON."""
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())
    box = mailbox_conf(dovecot, None)
    box["imap"] = {**box["imap"], "user": plan.user, "password": USERS[plan.user]}
    conf = {"mailboxes": {MAILBOX: box}, "border_host": BORDER, "fetch_batch": plan.batch}
    path = write_config(plan.work, redis_url, channels={"email": conf}, logging={"level": plan.log_level},
                        redis={"socket_timeout_s": shipped["redis"]["socket_timeout_s"]})  # fmt: skip
    if plan.code != REPO:  # an older commit refuses settings it never had (blobs, redis.sentinels, ...)
        old = yaml.safe_load((plan.code / "config" / "gateway.yaml").read_text())
        written = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump(known_to(written, old), allow_unicode=True))
    return path


@dataclass
class Counts:
    """What Redis and Dovecot hold, read by this script (on the other cpus) while the gateway works."""

    redis: redis.Redis
    imap: imaplib.IMAP4

    def queued(self) -> int:
        return int(self.redis.llen(DELIVER_QUEUE))

    def folder(self, name: str) -> int:
        return folder_count(self.imap, name)

    def moved(self) -> int:
        return self.folder("Processed") + self.folder("Quarantine")


def logged_between(log: Path, start: float, end: float) -> list[str]:
    """The gateway's JSON log lines stamped within [start, end] (epoch seconds); unstamped lines count too."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            stamp = datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
        except (ValueError, KeyError, TypeError):
            out.append(line)
            continue
        if start - 0.01 <= stamp <= end + 0.01:
            out.append(line)
    return out


def run_gateway(plan: Plan, dovecot: Dovecot, client: redis.Redis, redis_info: RedisInfo) -> GatewayRun:
    config = gateway_config(plan, dovecot, redis_info.url)
    log = plan.work / "gateway.log"
    cmd = pinned([sys.executable, "-m", "gateway.cli", "--config", str(config), "mail"], plan.layout.measured_cpu)
    counts = Counts(client, dovecot.client(plan.user, USERS[plan.user]))
    try:
        say(f"gateway `intake mail` (logging {plan.log_level}); warming up on {plan.warmup} messages")
        with running(cmd, log, env=child_env(), cwd=plan.code) as proc:
            # Warm: connected, the language models loaded, every code path run once, and then idle (IDLE).
            warm = plan.warmup
            wait_until(
                "the warm-up messages", lambda: counts.queued() >= warm and counts.moved() >= warm, 90, proc, log
            )
            health = health_key(MAILBOX)
            wait_until("a finished pass", lambda: bool(counts.redis.hget(health, "checked_at")), 30, proc, log)
            time.sleep(1.0)
            return measure(plan, counts, proc, log, redis_info.pid, dovecot)
    finally:
        with suppress(Exception):
            counts.imap.logout()


def measure(
    plan: Plan, counts: Counts, proc: subprocess.Popen[bytes], log: Path, redis_pid: int, dovecot: Dovecot
) -> GatewayRun:
    """COPY the staged messages into the INBOX (one command, one EXISTS for the IDLEing poller) and time until
    every one is committed in Redis and moved out of the INBOX."""
    base_len, base_processed, base_quarantined = (
        counts.queued(),
        counts.folder("Processed"),
        counts.folder("Quarantine"),
    )
    target_len, target_moved = base_len + plan.messages, base_processed + base_quarantined + plan.messages
    # The gateway's process group: `intake mail` and the processes that parse its mail.
    watch = CpuWatch(
        {"redis": redis_pid}, {"gateway": proc.pid, "dovecot": dovecot.proc.pid if dovecot.proc else -1}, proc.pid
    )
    counts.imap.select(STAGING)
    finished = False
    with profiling(plan, proc.pid):
        say(f"copying {plan.messages:,} messages into the gateway's INBOX; the clock runs")
        watch.start()
        t0, wall0 = time.perf_counter(), time.time()
        typ, data = counts.imap.uid("COPY", "1:*", "INBOX")
        copy_s = time.perf_counter() - t0
        if typ != "OK":
            raise BenchError(f"UID COPY into INBOX: {typ} {data!r}")
        last_moved_check = 0.0
        while (now := time.perf_counter()) < t0 + plan.timeout_s:
            if proc.poll() is not None:
                raise BenchError(f"the gateway exited with {proc.returncode} during the run:\n{tail(log)}")
            # The folders are asked often only once everything is committed (each batch is moved after its
            # commits), and otherwise every 250 ms, so that mail moved without a commit cannot stall this loop.
            if counts.queued() >= target_len or now - last_moved_check > 0.25:
                last_moved_check = now
                if counts.moved() >= target_moved:
                    finished = True
                    break
            time.sleep(0.005)
        elapsed, wall1 = time.perf_counter() - t0, time.time()
        cpu = watch.stop(plan.layout)
    time.sleep(0.3)  # late commits, if any, show up in the counts
    run = GatewayRun(
        elapsed_s=elapsed,
        copy_s=copy_s,
        committed=counts.queued() - base_len,
        processed=counts.folder("Processed") - base_processed,
        quarantined=counts.folder("Quarantine") - base_quarantined,
        inbox_left=counts.folder("INBOX"),
        dedupe_keys=count_keys(counts.redis) - plan.warmup,
        cpu=cpu,
        finished=finished,
        log_lines=logged_between(log, wall0, wall1),
        started_at=datetime.fromtimestamp(wall0, UTC).isoformat(timespec="milliseconds"),
    )
    if run.log_lines:
        say(f"the gateway logged {len(run.log_lines)} line(s) during the run; the last:\n  {run.log_lines[-1][:400]}")
    if run.reconnects:
        say(f"warning: the poller reconnected {run.reconnects} time(s) during the run (its backoff is in elapsed_s)")
    if not finished:
        say(f"warning: not done after {plan.timeout_s:g} s: {run.committed} committed, {run.moved} moved")
    return run


@contextmanager
def baseline_run(ref: str, plan: Plan, dovecot: Dovecot) -> Iterator[dict[str, Any]]:
    """The old commit's `intake mail` on its own mailbox and Redis, measured as the current code was."""
    with baseline_tree(ref) as (tree, commit), redis_server(plan.work / "redis-baseline", "tcp", None) as (c, info):
        work = plan.work / "baseline"
        work.mkdir(exist_ok=True)
        say(f"baseline {ref} ({commit}) from {tree}")
        run = run_gateway(replace(plan, user=BASELINE_USER, code=tree, work=work, profile=None), dovecot, c, info)
        cpu = run.cpu.get("gateway_cpu")
        per_s = plan.messages / run.elapsed_s if run.finished else 0.0
        say(f"baseline: {per_s:,.0f} messages/s ({run.elapsed_s:.2f} s)")
        yield {
            "git": commit,
            "messages_per_s": round(per_s, 1),
            "elapsed_s": round(run.elapsed_s, 3),
            "committed": run.committed,
            "finished": run.finished,
            "gateway_cpu_us_per_msg": round(cpu * run.elapsed_s / plan.messages * 1e6, 1) if cpu else None,
            "cpu": run.cpu,
            "loadavg": Path("/proc/loadavg").read_text().strip(),
        }


# --------------------------------------------------------------------------------------------------
# Setup, the JSON line, the command line.
# --------------------------------------------------------------------------------------------------


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def bench(args: argparse.Namespace, layout: Layout, work: Path, git: str) -> dict[str, Any]:
    t_start = time.perf_counter()
    corpus = build_corpus(args.messages, args.seed, f"bench{args.seed}")
    warm = build_corpus(args.warmup, args.seed + 1, f"warm{args.seed}")
    mean = corpus.total_bytes / len(corpus.messages)
    say(f"{len(corpus.messages):,} messages ({corpus.total_bytes / 1e6:.1f} MB, mean {mean:,.0f} bytes) "
        f"in {corpus.generate_s:.2f} s: {corpus.mix}")  # fmt: skip
    plan = Plan(args.messages, args.warmup, args.fetch_batch, layout, work, args.log_level, args.timeout,
                args.profile.resolve() if args.profile else None, args.profile_rate, args.profile_gil,
                args.profile_idle, args.profile_parsers)  # fmt: skip
    with ExitStack() as stack, on_cpus(layout.other_cpus):
        # On TCP, as this bench has always measured it; it runs on the other cpus with this process (on_cpus).
        client, redis_info = stack.enter_context(redis_server(work / "redis", "tcp", None))
        dovecot = Dovecot(rawlog=False)
        stack.callback(dovecot.close)
        dovecot.add_user(IMAP_USER, IMAP_PASSWORD)
        dovecot.add_user(CEILING_USER, CEILING_PASSWORD)
        users = [IMAP_USER, *([BASELINE_USER] if args.baseline else [])]
        if args.baseline:
            dovecot.add_user(BASELINE_USER, USERS[BASELINE_USER])
        dovecot.start()
        t0 = time.perf_counter()
        dovecot.deliver_many(CEILING_USER, corpus.messages)
        for user in users:
            dovecot.create_folder(user, STAGING)
            dovecot.deliver_many(user, corpus.messages, folder=STAGING)
            dovecot.deliver_many(user, warm.messages)
        say(f"Dovecot {dovecot.port}: delivered {2 * args.messages + args.warmup:,} messages in "
            f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        # The ceiling before and after the gateway: a VM's speed drifts, and the median straddles the gateway run.
        before = (args.ceiling_rounds + 1) // 2
        ceiling = run_ceiling(dovecot, args.fetch_batch, before, args.messages, layout)
        gw = run_gateway(plan, dovecot, client, redis_info)
        old = stack.enter_context(baseline_run(args.baseline, plan, dovecot)) if args.baseline else None
        ceiling += run_ceiling(dovecot, args.fetch_batch, args.ceiling_rounds - before, args.messages, layout)
    ceiling_s = statistics.median(r.elapsed_s for r in ceiling)
    ceiling_per_s = args.messages / ceiling_s
    per_s = args.messages / gw.elapsed_s if gw.finished else 0.0
    ratio = per_s / ceiling_per_s if ceiling_per_s else 0.0
    say(f"gateway: {per_s:,.0f} messages/s ({gw.elapsed_s:.2f} s), ceiling {ceiling_per_s:,.0f}/s, ratio {ratio:.3f}")
    gateway_cpu = gw.cpu.get("gateway_cpu")
    ceiling_cpu_s = statistics.median(r.cpu_s for r in ceiling)
    ceiling_other = max((r.core_other or 0.0) for r in ceiling)

    def ceiling_median(value: Callable[[CeilingRun], float]) -> float:
        return median(value(r) for r in ceiling)

    return {
        "bench": "email_ingest",
        "messages_per_s": round(per_s, 1),
        "ceiling_messages_per_s": round(ceiling_per_s, 1),
        "ratio": round(ratio, 4),
        "messages": args.messages,
        "committed": gw.committed,
        "moved": gw.moved,
        "processed": gw.processed,
        "quarantined": gw.quarantined,
        "inbox_left": gw.inbox_left,
        "not_committed": args.messages - gw.committed,
        "duplicates": max(0, gw.committed - gw.dedupe_keys),
        "moved_not_committed": max(0, gw.moved - gw.committed),
        "dedupe_keys": gw.dedupe_keys,
        "finished": gw.finished,
        "gateway_log_lines": len(gw.log_lines),
        "reconnects": gw.reconnects,
        "started_at": gw.started_at,
        "fetch_batch": args.fetch_batch,
        "elapsed_s": round(gw.elapsed_s, 3),
        "copy_into_inbox_s": round(gw.copy_s, 3),
        "ceiling_elapsed_s": round(ceiling_s, 3),
        "ceiling_rounds": [round(args.messages / r.elapsed_s, 1) for r in ceiling],
        "ceiling_parse": "email.message_from_bytes(raw, policy=email.policy.default)",
        "ceiling_imap_s": ceiling_median(lambda r: r.imap_s),
        "ceiling_parse_s": ceiling_median(lambda r: r.parse_s),
        # Context, not the target: the bare loop without any parse, and with the parser the gateway uses.
        "fetch_only_messages_per_s": round(args.messages / ceiling_median(lambda r: r.imap_s), 1),
        "ceiling_compat32_messages_per_s": round(
            args.messages / ceiling_median(lambda r: r.imap_s + r.compat32_parse_s), 1
        ),
        "gateway_cpu_us_per_msg": round(gateway_cpu * gw.elapsed_s / args.messages * 1e6, 1) if gateway_cpu else None,
        "gateway_cpu_split_us_per_msg": {
            name: round(gw.cpu.get(f"{name}_cpu", 0.0) * gw.elapsed_s / args.messages * 1e6, 1)
            for name in ("poller_user", "poller_sys", "parsers_user", "parsers_sys")
        },
        "ceiling_cpu_us_per_msg": round(ceiling_cpu_s / args.messages * 1e6, 1),
        # CPU per message is steadier than rates on a VM whose speed drifts: compare these across changes.
        "cpu_ratio": round(ceiling_cpu_s / args.messages * 1e6 / (gateway_cpu * gw.elapsed_s / args.messages * 1e6), 4)
        if gateway_cpu
        else None,
        "cpu": gw.cpu,
        "ceiling_cpu": round(ceiling_cpu_s / ceiling_s, 3),
        "ceiling_core_other": ceiling_other,
        "contended": contended(gw.cpu.get("measured_core_other", 0.0), ceiling_other),
        "warmup_messages": args.warmup,
        "mix": corpus.mix,
        "mean_message_bytes": round(corpus.total_bytes / len(corpus.messages)),
        "corpus_mb": round(corpus.total_bytes / 1e6, 2),
        "corpus_sha": corpus.digest(),
        "seed": args.seed,
        "layout": layout.describe(),
        "log_level": args.log_level,
        "redis_version": redis_info.version,
        "appendfsync": redis_info.appendfsync,
        "data_dir_fs": filesystem_of(work),
        "dovecot_version": tool_version(["/usr/sbin/dovecot", "--version"]),
        "aioimaplib": package_version("aioimaplib"),
        "profiled": args.profile is not None,
        "ratio_rounds": [round(per_s / (args.messages / r.elapsed_s), 4) for r in ceiling],
        "loadavg": Path("/proc/loadavg").read_text().strip(),
        "baseline": old,
        "targets": {"ratio_min": TARGET_RATIO, "messages_per_s_min": TARGET_PER_S},
        "meets_targets": gw.finished
        and min(per_s / (args.messages / r.elapsed_s) for r in ceiling) >= TARGET_RATIO
        and per_s >= TARGET_PER_S
        and gw.committed == args.messages,
        **provenance(git),
        "loadavg_1m": loadavg_1m(),
        "total_s": round(time.perf_counter() - t_start, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000, help="measured messages (default 2000)")
    p.add_argument("--warmup", type=int, default=60, help="messages the gateway handles before the clock (default 60)")
    p.add_argument("--fetch-batch", type=int, default=100, help="channels.email.fetch_batch, both sides (default 100)")
    p.add_argument(
        "--ceiling-rounds",
        type=int,
        default=4,
        help="bare loop runs, half before and half after the gateway's; the JSON has the median (default 4)",
    )
    p.add_argument("--seed", type=int, default=2026, help="the corpus's seed (default 2026)")
    p.add_argument("--cpu", type=int, default=0, help="cpu for the measured code (default 0); the rest elsewhere")
    p.add_argument("--no-pin", action="store_true", help="do not pin anything to a cpu")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--timeout", type=float, default=90.0, help="give up on the gateway after this many s (default 90)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the config, logs and Redis files here")
    p.add_argument("--profile", type=Path, default=None, help="py-spy the gateway: .svg flamegraph, .json, .txt raw")
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--profile-gil", action="store_true", help="py-spy --gil: only samples holding the GIL")
    p.add_argument("--profile-idle", action="store_true", help="py-spy --idle: waits too (epoll, fsync)")
    p.add_argument(
        "--profile-parsers", action="store_true", help="py-spy --subprocesses: the parsing processes too, by pid"
    )
    p.add_argument("--check", action="store_true", help="exit 1 when the targets are not met")
    p.add_argument(
        "--baseline",
        default=None,
        metavar="GIT_REF",
        help="also run this commit's `intake mail` (from a temporary git worktree) on the same mail",
    )
    args = p.parse_args(argv)
    if args.messages < 1 or args.warmup < 1 or args.ceiling_rounds < 1 or not 1 <= args.fetch_batch <= 1000:
        p.error("--messages, --warmup and --ceiling-rounds >= 1; 1 <= --fetch-batch <= 1000")
    return args


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        say("error: Dovecot runs mailboxes as `nobody` and logins as `dovenull`: run this as root")
        return 2
    try:
        layout = choose_layout(args.cpu, pin=not args.no_pin)
        git = git_head()
        with workdir(args.workdir, "intake-mail-bench-") as work:
            say(f"working in {work}")
            out = bench(args, layout, work, git)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    if out["contended"]:
        say("warning: something else took a large share of the measured cpu (cpu.measured_core_other): rerun")
    print_json(out, stdout, ensure_ascii=False)
    return 1 if args.check and not out["meets_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
