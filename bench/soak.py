"""The soak: a long, steady stream of messages through one web process and its workers, watching memory.

One web process (`intake serve`), `--workers` workers (`intake worker`), their own durable redis-server
(appendonly, appendfsync always) and the built-in SQLite ticket store. A paced sender posts `--messages`
messages at `--rate` a second: signed web forms (/hooks/webform) and a `--sms-share` of signed Twilio texts
(/hooks/twilio/sms, acknowledged by the workers through a local stand-in for Twilio's REST API), each from a
distinct family, so each is a new conversation and a new ticket.

Every `--sample` messages it records each process's RSS (VmRSS of the process and its children), Redis's
used_memory and key count, the ticket store's size (+ WAL), the backlog (the deliver queue's length) and the
tickets made. At the end, once the workers have drained the queue:

- RSS growth of every process from the first sample at or after `--warmup` messages to the last (target < 10%);
- Redis: used_memory growth over the second half against the first half, and what a retention sweep at the
  retention horizon leaves (the workers' own `workers.retention.sweep`, run with its clock set past
  `retention.days`): keys without a TTL that remain grow without bound, keys with a TTL are bounded by it.
  `retention.days` and `redis.dedupe_ttl_days` can be no shorter than a day, so a soak shorter than that sees
  Redis grow with every message; the sweep at the horizon is what shows whether the growth is bounded;
- sent, acknowledged (2xx) and tickets counts, /proc/loadavg at start and end.

Exit status 1 when an RSS target is missed, Redis growth is not bounded by retention, or a message is lost;
2 when the bench could not run. One JSON line on stdout; progress on stderr.

    .venv/bin/python bench/soak.py                                      # 1,000,000 at 300/s: about an hour
    .venv/bin/python bench/soak.py --messages 150000 --rate 200 --sample 15000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import redis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    BenchError,
    child_env,
    free_port,
    git_head,
    print_json,
    running,
    say,
    stop,
    ticket_count,
    workdir,
)
from bench.harness_redis import deliver_queue, redis_server
from bench.intake_throughput import wait_healthy
from bench.throughput_modes import Mode, TwilioSmsMode, WebformMode, _merge, gateway_config
from gateway import keys
from tests.support.twilio_api import TwilioStandIn

RSS_TARGET_PCT = 10.0
DELIVER_QUEUE = deliver_queue()
REPLIES_QUEUE = "rq:queue:replies"
PARKED_LISTS = keys.pending_outbound("*")
# A key family still holding more than this share of the messages after the retention sweep grows with traffic.
UNBOUNDED_SHARE = 0.01


# --------------------------------------------------------------------------------------------------
# What a sample reads: /proc, Redis, the store's files.
# --------------------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children_of() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    return kids


def tree_rss_kb(pid: int, kids: dict[int, list[int]]) -> int:
    """The process and every descendant (a pool it starts counts as its memory)."""
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += rss_kb(p)
        todo.extend(kids.get(p, []))
    return total


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Sampler:
    def __init__(self, client: redis.Redis, pids: dict[str, int], db: Path, started: float) -> None:
        self.client, self.pids, self.db, self.started = client, pids, db, started
        self.samples: list[dict[str, Any]] = []

    def take(self, sent: int, acknowledged: int, *, keep: bool = True) -> dict[str, Any]:
        kids = children_of()
        mem = self.client.info("memory")
        s = {
            "messages": sent,
            "acknowledged": acknowledged,
            "t_s": round(time.monotonic() - self.started, 1),
            "rss_kb": {name: tree_rss_kb(pid, kids) for name, pid in self.pids.items()},
            "redis_used_memory": int(mem["used_memory"]),
            "redis_keys": int(self.client.dbsize()),
            "store_bytes": file_size(self.db),
            "store_wal_bytes": file_size(self.db.with_name(self.db.name + "-wal")),
            "backlog": int(self.client.llen(DELIVER_QUEUE)),
            "replies_backlog": int(self.client.llen(REPLIES_QUEUE)),
            # Replies parked for a channel no worker here switches on (email, in this soak): each worker's
            # maintenance pass counts them.
            "parked": sum(int(self.client.llen(k)) for k in self.client.scan_iter(match=PARKED_LISTS, count=100)),
            "tickets": ticket_count(self.db),
            "loadavg_1m": float(loadavg().split()[0]),
        }
        if keep:
            self.samples.append(s)
        say(f"sample {s}")
        return s


# --------------------------------------------------------------------------------------------------
# The paced sender.
# --------------------------------------------------------------------------------------------------


class Sender:
    def __init__(self, port: int, modes: list[Mode], sms_share: float, rate: float, run_id: str) -> None:
        self.port, self.modes, self.rate, self.run_id = port, modes, rate, run_id
        self.sms_every = round(1 / sms_share) if sms_share > 0 else 0
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.acknowledged = 0
        self.sent = 0
        self.late_max_s = 0.0

    def mode_for(self, index: int) -> Mode:
        return self.modes[1] if self.sms_every and index % self.sms_every == 0 else self.modes[0]

    async def run(self, total: int, every: int, concurrency: int, sampler: Sampler) -> float:
        next_index = 0
        t0 = time.monotonic()
        samples: list[asyncio.Task[dict[str, Any]]] = []

        async def one(session: aiohttp.ClientSession) -> None:
            nonlocal next_index
            while next_index < total:
                i = next_index
                next_index += 1
                due = t0 + i / self.rate
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    self.late_max_s = max(self.late_max_s, -wait)
                req = self.mode_for(i).make(i, self.run_id)
                url = f"http://127.0.0.1:{self.port}{req.path}"
                for _attempt in range(5):  # what a provider does on a connection error: try again
                    try:
                        async with session.post(url, data=req.body, headers=req.headers) as resp:
                            await resp.read()
                            self.statuses[resp.status] += 1
                            self.acknowledged += 200 <= resp.status < 300
                            break
                    except aiohttp.ClientError:
                        self.errors += 1
                        await asyncio.sleep(0.2)
                self.sent += 1
                if self.sent % every == 0:
                    acked = self.acknowledged
                    samples.append(asyncio.create_task(asyncio.to_thread(sampler.take, self.sent, acked)))

        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(one(session) for _ in range(concurrency)))
        seconds = time.monotonic() - t0
        await asyncio.gather(*samples)
        return seconds


# --------------------------------------------------------------------------------------------------
# Redis after the retention horizon.
# --------------------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"[0-9a-f]{8,}|.*\d.*", re.IGNORECASE)


def family(key: str) -> str:
    """ig:conv:1f3a...:timeline -> ig:conv:*:timeline."""
    return ":".join("*" if _VARIABLE.fullmatch(part) and len(part) > 3 else part for part in key.split(":"))


def census(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Key family -> {"keys": n, "no_ttl": keys without an expiry}."""
    out: dict[str, dict[str, int]] = {}
    batch: list[bytes] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for k in batch:
            pipe.ttl(k)
        for k, ttl in zip(batch, pipe.execute(), strict=True):
            row = out.setdefault(family(k.decode(errors="replace")), {"keys": 0, "no_ttl": 0})
            row["keys"] += 1
            row["no_ttl"] += int(ttl) == -1
        batch.clear()

    for key in client.scan_iter(count=10_000):
        batch.append(key)
        if len(batch) >= 5000:
            flush()
    if batch:
        flush()
    return out


def after_horizon(client: redis.Redis, config: Path, messages: int) -> dict[str, Any]:
    """Run the workers' retention sweep as if `retention.days` (+1) had passed, then see what is left."""
    from gateway.models import utcnow
    from gateway.settings.loader import load_settings
    from workers.retention import sweep

    settings = load_settings(config, env={})
    t0 = time.monotonic()
    forgotten = sweep(client, settings, now=utcnow() + timedelta(days=settings.retention.days + 1))
    sweep_s = round(time.monotonic() - t0, 1)
    families = census(client)
    growing = {f: row for f, row in families.items() if row["no_ttl"] > max(10, messages * UNBOUNDED_SHARE)}
    with_ttl = {f: row["keys"] for f, row in families.items() if row["keys"] > row["no_ttl"]}
    return {
        "sweep_s": sweep_s,
        "forgotten": {"conversations": forgotten.conversations, "keys": forgotten.keys, "jobs": forgotten.jobs},
        "used_memory": int(client.info("memory")["used_memory"]),
        "keys": sum(row["keys"] for row in families.values()),
        "keys_without_ttl": sum(row["no_ttl"] for row in families.values()),
        "families_with_ttl": dict(sorted(with_ttl.items(), key=lambda kv: -kv[1])[:10]),
        "families_growing_without_ttl": growing,
    }


# --------------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------------


def queues(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Every rq queue: jobs waiting, being run, scheduled for later (paced sends, retries), deferred, failed."""
    from rq import Queue

    out = {}
    for q in Queue.all(connection=client):
        regs = {"started": q.started_job_registry, "scheduled": q.scheduled_job_registry,
                "deferred": q.deferred_job_registry, "failed": q.failed_job_registry}  # fmt: skip
        out[q.name] = {"queued": q.count} | {k: int(r.count) for k, r in regs.items()}
    return out


def queued(client: redis.Redis) -> int:
    """Jobs still to run on any queue (a failed one is not: it waits for `intake replay`)."""
    return sum(n for row in queues(client).values() for k, n in row.items() if k != "failed")


def growth_pct(a: float, b: float) -> float:
    return round((b - a) * 100 / a, 1) if a else 0.0


def verdicts(samples: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    base = next((s for s in samples if s["messages"] >= warmup), samples[0])
    last = samples[-1]
    rss = {name: growth_pct(base["rss_kb"][name], last["rss_kb"][name]) for name in last["rss_kb"]}
    mid = samples[len(samples) // 2]
    first_half = mid["redis_used_memory"] - samples[0]["redis_used_memory"]
    second_half = last["redis_used_memory"] - mid["redis_used_memory"]
    per_msg = (last["redis_used_memory"] - samples[0]["redis_used_memory"]) / max(last["messages"], 1)
    return {
        "rss_baseline_at_messages": base["messages"],
        "rss_growth_pct": rss,
        # The gateway's processes; Redis's memory is the data it holds, judged by the retention horizon instead.
        "rss_ok": all(g < RSS_TARGET_PCT for name, g in rss.items() if name != "redis"),
        "redis_used_memory_growth": {
            "first_half": first_half,
            "second_half": second_half,
            "second_over_first": round(second_half / first_half, 2) if first_half else None,
            "bytes_per_message": round(per_msg),
        },
        "backlog_max": max(s["backlog"] for s in samples),
        "replies_backlog_max": max(s["replies_backlog"] for s in samples),
    }


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    web_mode, sms_mode = WebformMode(), TwilioSmsMode()
    retention = {"retention": {"days": args.retention_days, "sweep_interval_s": args.sweep_interval},
                 "redis": {"dedupe_ttl_days": args.dedupe_ttl_days}}  # fmt: skip
    with ExitStack() as stack:
        api = TwilioStandIn(sms_mode.account_sid, sms_mode.auth_token, work).start()
        stack.callback(api.stop)
        client, info = stack.enter_context(redis_server(work / "redis", "unix", None))
        port = free_port()
        base = gateway_config(web_mode, work, info.url, port)
        _merge(base, sms_mode.gateway_config())
        _merge(base, retention)
        base["server"]["public_base_url"] = sms_mode.public
        base["channels"]["twilio"].update(api_base_url=api.base_url, ca_file=str(api.ca_file), quiet_hours="",
                                          sends_per_second_per_number=100_000)  # fmt: skip
        config = work / "gateway.yaml"
        config.write_text(yaml.safe_dump(base, allow_unicode=True))
        cmd = [sys.executable, "-m", "gateway.cli", "--config", str(config)]
        web = stack.enter_context(running([*cmd, "serve"], work / "web.log", env=child_env({})))
        wait_healthy(port, web, work / "web.log", "gateway")
        procs = {"web": web}
        for n in range(args.workers):
            first = ["--first", "replies"] if n < args.replies_first else []
            procs[f"worker{n}"] = stack.enter_context(
                running([*cmd, "worker", *first], work / f"worker{n}.log", env=child_env({}))
            )
        pids = {name: proc.pid for name, proc in procs.items()} | {"redis": info.pid}
        db = work / "data" / "tickets.sqlite3"
        started = time.monotonic()
        load_start = loadavg()
        sampler = Sampler(client, pids, db, started)
        sampler.take(0, 0)
        sender = Sender(port, [web_mode, sms_mode], args.sms_share, args.rate, "soak")
        say(f"sending {args.messages} messages at {args.rate}/s ({args.sms_share:.0%} texts), {args.workers} workers")
        send_s = asyncio.run(sender.run(args.messages, args.sample, args.concurrency, sampler))
        say(f"sent in {send_s:.0f}s: {dict(sender.statuses)}; draining")
        deadline = time.monotonic() + args.drain_timeout
        drain_samples: list[dict[str, Any]] = []
        next_sample = time.monotonic() + args.drain_sample
        while time.monotonic() < deadline and (queued(client) or ticket_count(db) < sender.acknowledged):
            time.sleep(1.0)
            if time.monotonic() >= next_sample:  # where in the drain the processes grow: kept apart from the verdicts
                drain_samples.append(sampler.take(sender.sent, sender.acknowledged, keep=False))
                next_sample += args.drain_sample
        drain_s = round(time.monotonic() - started - send_s, 1)
        jobs_left = queues(client)
        final = sampler.take(sender.sent, sender.acknowledged)
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        load_end = loadavg()
        for proc in procs.values():  # nothing writes while the sweep runs
            stop(proc)
        horizon: dict[str, Any] = {"families_growing_without_ttl": None}
        if args.horizon:
            say("retention sweep at the horizon")
            horizon = after_horizon(client, config, sender.sent)
        acks = len(api.messages)
    out = verdicts(sampler.samples, args.warmup)
    lost = sender.acknowledged - final["tickets"]
    out.update(
        sent=sender.sent,
        acknowledged=sender.acknowledged,
        tickets=final["tickets"],
        lost=lost,
        sms_acks_sent=acks,
        statuses={str(k): v for k, v in sorted(sender.statuses.items())},
        connection_errors=sender.errors,
        send_s=round(send_s, 1),
        achieved_rate=round(sender.sent / send_s, 1) if send_s else 0.0,
        late_max_s=round(sender.late_max_s, 2),
        drain_s=drain_s,
        jobs_left=jobs_left,
        redis_after_retention_horizon=horizon,
        redis_bounded=None if not args.horizon else not horizon["families_growing_without_ttl"],
        loadavg_start=load_start,
        loadavg_end=load_end,
        dead_processes=dead,
    )
    no_loss = lost == 0 and sender.acknowledged == sender.sent and not dead
    out["ok"] = bool(out["rss_ok"] and out["redis_bounded"] is not False and no_loss)
    out["samples"] = sampler.samples
    out["drain_samples"] = drain_samples
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000, help="messages to send (default 1000000)")
    p.add_argument("--rate", type=float, default=300.0, help="messages a second, steady (default 300: 1M in ~56 min)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--replies-first", type=int, default=0, metavar="N",
                   help="start N of the workers with `--first replies` (default 0)")  # fmt: skip
    p.add_argument("--sample", type=int, default=0, help="sample every N messages (default: a tenth of --messages)")
    p.add_argument("--warmup", type=int, default=0, help="messages before the RSS baseline (default: one --sample)")
    p.add_argument("--sms-share", type=float, default=0.2, help="share of Twilio texts among the messages (0.2)")
    p.add_argument("--concurrency", type=int, default=32, help="connections the paced sender may use (default 32)")
    p.add_argument("--retention-days", type=int, default=1, help="retention.days for the run (default 1, the least)")
    p.add_argument("--dedupe-ttl-days", type=int, default=1, help="redis.dedupe_ttl_days (default 1, the least)")
    p.add_argument("--sweep-interval", type=float, default=300.0, help="retention.sweep_interval_s (default 300)")
    p.add_argument("--drain-timeout", type=float, default=900.0, help="longest wait for the backlog, seconds")
    p.add_argument("--drain-sample", type=float, default=30.0, help="seconds between samples in the drain (default 30)")
    p.add_argument("--no-horizon", dest="horizon", action="store_false", help="skip the sweep at the horizon")
    p.add_argument("--workdir", type=Path, default=None, help="keep the run's files here")
    args = p.parse_args(argv)
    args.sample = args.sample or max(1, args.messages // 10)
    args.warmup = args.warmup or args.sample
    git = git_head()
    try:
        with workdir(args.workdir, "soak-") as work:
            out = soak(args, work)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    settings = {"retention.days": args.retention_days, "retention.sweep_interval_s": args.sweep_interval,
                "redis.dedupe_ttl_days": args.dedupe_ttl_days, "jobs.failure_ttl_days": 30}  # fmt: skip
    head = {"bench": "soak", "git": git, "messages": args.messages, "rate": args.rate, "workers": args.workers,
            "replies_first": args.replies_first, "sms_share": args.sms_share, "sample_every": args.sample,
            "warmup": args.warmup, "settings": settings, "rss_target_pct": RSS_TARGET_PCT}  # fmt: skip
    print_json({**head, **out}, sys.stdout)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
