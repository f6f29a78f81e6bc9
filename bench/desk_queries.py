"""The desk's and the dashboard's reads at a million tickets, and what 200 live dashboard watchers cost intake.

1. load: `--tickets` (1,000,000) tickets, each with `--comments` comments, into the built-in store (SQLite under
   the work directory, made by the store itself, so its migrations, indexes and search triggers are the real ones),
   spread over two years, a twentieth of them still open with a running clock. With `--workdir` the store is kept
   and reused by the next run.
2. queries: `--queries` rounds of the desk's open-ticket lists (by department, by assignee, all; sorted by priority
   and due time, a page of 50 with its total), a search for a specific word (a page with its total), and the
   dashboard's whole read (gateway/dashboard/snapshot.py: the incoming counts, the open/unassigned/due counts, the
   clocks due soonest, the breaches, incidents, the last week's response times, health). p50 and p99 in ms.
3. watchers: the web process (`intake serve`, on this store and its own redis-server) takes signed-in web forms
   from `--concurrency` clients for `--seconds`, first with no dashboard watcher, then with `--watchers` of them
   connected over server-sent events, alternating `--rounds` times. Reported: committed requests a second, the web
   process's CPU, the watchers' events, and the ratio with/without (target at least 0.9).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    DEFAULT_CONFIG,
    BenchError,
    child_env,
    free_port,
    git_head,
    print_json,
    provenance,
    running,
    say,
    tail,
    workdir,
)
from bench.harness_cpu import proc_ticks
from bench.harness_redis import redis_server

QUEUES = ("it", "transportation", "hr", "communications", "general", "facilities")
CHANNELS = ("sms", "email", "webform", "slack", "voice")
SCHOOLS = tuple(f"s{i:02d}" for i in range(12))
LANGUAGES = ("en", "es", "vi", "zh")
PRIORITIES = ("low", "normal", "normal", "normal", "high", "urgent")
PEOPLE = tuple(f"tech{i:02d}" for i in range(40))
WORDS = (
    "bus", "late", "chromebook", "screen", "broken", "password", "wifi", "lincoln", "stop", "driver", "printer",
    "badge", "payroll", "benefits", "newsletter", "grades", "portal", "login", "cracked", "charger", "route",
    "morning", "afternoon", "teacher", "classroom", "projector", "email", "account", "locked", "form",
)  # fmt: skip
TOKEN = "bench-form-token-51c2"  # noqa: S105 (the bench's own gateway)
OPERATOR = "bench-operator-token-9a0e"
TIME = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def load(path: Path, tickets: int, comments: int, seed: int = 7) -> float:
    """Fill the store (made and migrated by TicketStore.open) with raw inserts, 20,000 tickets a transaction."""
    from gateway.tickets import TicketStore
    from gateway.tickets.engine import sqlite_url

    TicketStore.open(sqlite_url(path)).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # loading only: the measured store runs with FULL
    have = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    if have >= tickets:
        db.close()
        return 0.0
    rng = random.Random(seed + have)
    now = datetime.now(UTC)
    start = time.monotonic()
    n = have
    while n < tickets:
        rows, notes = [], []
        for i in range(n + 1, min(tickets, n + 20_000) + 1):
            created = now - timedelta(seconds=int((tickets - i) * (730 * 86400 / tickets)) + rng.randrange(60))
            open_ = rng.random() < 0.05 or i > tickets - 2000
            first_at = None if open_ and rng.random() < 0.6 else created + timedelta(minutes=rng.randrange(5, 600))
            resolved = None if open_ else (first_at or created) + timedelta(minutes=rng.randrange(10, 5000))
            due = created + timedelta(hours=rng.choice((1, 4, 8, 16, 40))) if open_ else None
            priority = rng.choice(PRIORITIES)
            rows.append((
                f"bench-{i}", f"conv-{i}", "open" if open_ else "resolved", _text(rng, 5), _text(rng, 30),
                rng.choice(CHANNELS), rng.choice(("devices", "buses", "payroll", None)), rng.choice(QUEUES), priority,
                {"urgent": 0, "high": 1, "normal": 2, "low": 3}[priority], rng.choice(SCHOOLS), rng.choice(LANGUAGES),
                f"Family {i}", f"family{i}@example.org", None if rng.random() < 0.3 else rng.choice(PEOPLE),
                created.strftime(TIME), created.strftime(TIME), due.strftime(TIME) if due else None,
                due.strftime(TIME) if due else None, first_at.strftime(TIME) if first_at else None,
                resolved.strftime(TIME) if resolved else None,
            ))  # fmt: skip
            for _ in range(comments):
                notes.append((i, "Staff", _text(rng, 20), created.strftime(TIME), "staff"))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO tickets (idempotency_key, conversation, status, subject, body, channel, category, queue, "
            "priority, priority_rank, school, language, requester_name, requester_email, assignee, created_at, "
            "updated_at, first_response_due, next_due, first_response_at, resolved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO comments (ticket_id, author, body, created_at, author_kind) VALUES (?, ?, ?, ?, ?)", notes
        )
        db.execute("COMMIT")
        n += len(rows)
        say(f"loaded {n:,} tickets")
    db.execute("ANALYZE")
    db.close()
    return time.monotonic() - start


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2)}


def queries(path: Path, settings: Any, rounds: int) -> dict[str, dict[str, float]]:
    import redis

    from gateway.dashboard.snapshot import PARTS, Snapshot, Sources, read_parts
    from gateway.routing.router import load_ruleset
    from gateway.tickets import TicketQuery, TicketStore
    from gateway.tickets.engine import sqlite_url

    store = TicketStore.open(sqlite_url(path))
    client = redis.Redis.from_url(settings.redis.url)
    sources = Sources(settings, store, client, load_ruleset(settings), ("sms", "webform"), ())
    rng = random.Random(11)
    lists = [
        lambda: store.page(TicketQuery(status=("open",), queue=(rng.choice(QUEUES),)), sort="priority"),
        lambda: store.page(TicketQuery(status=("open",), assignee=(rng.choice(PEOPLE),)), sort="priority"),
        lambda: store.page(TicketQuery(status=("open",)), sort="priority", page=rng.randint(1, 20)),
        lambda: store.page(TicketQuery(status=("open",), due="soon_or_overdue", queue=(rng.choice(QUEUES),))),
    ]
    out: dict[str, list[float]] = {"list": [], "search": [], "dashboard": []}
    for i in range(rounds):
        for name, work in (
            ("list", lists[i % len(lists)]),
            ("search", lambda: store.search(f"{rng.choice(WORDS)} family{rng.randrange(1, 1_000_000)}")),
            ("dashboard", lambda: read_parts(sources, Snapshot(datetime.now(UTC)), set(PARTS), datetime.now(UTC))),
        ):
            t0 = time.perf_counter()
            work()
            out[name].append((time.perf_counter() - t0) * 1000)
    store.close()
    client.close()
    return {k: _percentiles(v) for k, v in out.items()}


async def _watch(
    session: aiohttp.ClientSession, base: str, cookie: str, counts: list[int], stop: asyncio.Event
) -> None:
    headers = {"Cookie": cookie}  # a supervisor's session: nothing of the dashboard answers without one
    async with session.get(base + "/dashboard/events", headers=headers, timeout=aiohttp.ClientTimeout()) as resp:
        if resp.status != 200:
            raise BenchError(f"a watcher got {resp.status}")
        while not stop.is_set():
            chunk = await resp.content.readany()
            if not chunk:
                return
            counts[0] += chunk.count(b"event: snapshot")


async def _post(session: aiohttp.ClientSession, base: str, until: float, done: list[int], worker: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    n = 0
    while time.monotonic() < until:
        n += 1
        body = {"name": "Ana", "email": f"w{worker}-{n}-{time.monotonic_ns()}@example.org", "category": "devices",
                "message": f"The projector in room {worker}-{n} is broken again."}  # fmt: skip
        async with session.post(base + "/hooks/webform", data=json.dumps(body), headers=headers) as resp:
            await resp.read()
            if resp.status == 202:
                done[0] += 1
            elif done[0] == 0 and n < 3:
                say(f"a post was answered {resp.status}: {(await resp.text())[:200]}")


async def watch_only(base: str, cookie: str, watchers: int, seconds: float) -> None:
    """The watchers, in a process of their own at the lowest priority: in a district they are browsers on other
    machines, so here they take only what the gateway and its load leave of the cores. Connect, say so, watch,
    print the events seen."""
    os.nice(19)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        stop, counts = asyncio.Event(), [0]
        tasks = [asyncio.create_task(_watch(session, base, cookie, counts, stop)) for _ in range(watchers)]
        deadline = time.monotonic() + 60
        while counts[0] < watchers:
            if time.monotonic() > deadline:
                raise BenchError(f"only {counts[0]} of {watchers} watchers connected")
            await asyncio.sleep(0.1)
        first = counts[0]
        print("connected", flush=True)
        await asyncio.sleep(seconds)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        print(json.dumps({"events": counts[0] - first}), flush=True)


async def load_run(base: str, pid: int, concurrency: int, seconds: float) -> dict[str, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        done = [0]
        ticks0, t0 = proc_ticks(pid) or 0, time.monotonic()
        await asyncio.gather(*(_post(session, base, t0 + seconds, done, w) for w in range(concurrency)))
        elapsed = time.monotonic() - t0
        ticks = (proc_ticks(pid) or 0) - ticks0
    return {"committed_per_s": round(done[0] / elapsed, 1), "web_cpu_pct": round(ticks / elapsed, 1)}


def one_run(base: str, cookie: str, pid: int, watchers: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    if not watchers:
        return {**asyncio.run(load_run(base, pid, args.concurrency, args.seconds)), "watcher_events": 0}
    cmd = [sys.executable, __file__, "--watch", base, "--cookie", cookie, "--watchers", str(watchers),
           "--seconds", str(args.seconds + 2)]  # fmt: skip
    watcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=(work / "watchers.log").open("ab"), text=True,
                               env=child_env({}))  # fmt: skip
    try:
        assert watcher.stdout is not None
        if watcher.stdout.readline().strip() != "connected":
            raise BenchError(f"the watchers did not connect:\n{tail(work / 'watchers.log')}")
        result = asyncio.run(load_run(base, pid, args.concurrency, args.seconds))
        seen = json.loads(watcher.stdout.readline())
        watcher.wait(30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    return {**result, "watcher_events": seen["events"]}


async def supervisor_session(config: Path, base: str) -> str:
    """A supervisor's session cookie, from a real sign-in (the account is made in the store the first time)."""
    from gateway.settings import load_settings
    from gateway.tickets import UserExists
    from tests.support.staff import add_staff, signed_in_cookie

    with contextlib.suppress(UserExists):  # a store kept from an earlier run (--workdir) has the account
        add_staff(load_settings(config, env={}), "bench.supervisor", "supervisor")
    name, value = await signed_in_cookie(base, "bench.supervisor")
    return f"{name}={value}"


def watchers_bench(work: Path, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    with redis_server(work / "redis-w", "unix", None) as (_client, info):
        port = free_port()
        conf = yaml.safe_load(DEFAULT_CONFIG.read_text())
        conf["data_dir"] = str(work / "data")
        conf["secret_key"] = "bench-secret"  # noqa: S105
        conf["redis"]["url"] = info.url
        conf["server"].update({"port": port, "operator_token": OPERATOR})
        conf["channels"]["webform"]["sources"]["demo"] = {"token": TOKEN}
        conf["rate_limits"] = {"form_per_client": "off", "hook_per_client": "off", "per_address": "off"}
        conf["backends"]["builtin"]["path"] = str(store)
        conf["logging"]["level"] = "WARNING"
        config = work / "gateway-watchers.yaml"
        config.write_text(yaml.safe_dump(conf))
        cmd = [sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"]
        log = work / "web.log"
        with running(cmd, log, env=child_env({})) as web:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=2):
                        break
                except OSError:
                    if web.poll() is not None or time.monotonic() > deadline:
                        raise BenchError(f"the web process did not start:\n{tail(log)}") from None
                    time.sleep(0.2)
            cookie = asyncio.run(supervisor_session(config, base))
            runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
            for r in range(args.rounds):
                for label, n in (("without", 0), ("with", args.watchers)):
                    result = one_run(base, cookie, web.pid, n, args, work)
                    say(f"round {r + 1}, {label} watchers: {result}")
                    runs[label].append(result)
    summary = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in runs.items()}
    ratio = summary["with"]["committed_per_s"] / max(summary["without"]["committed_per_s"], 0.1)
    return {"watchers": args.watchers, "without": summary["without"], "with": summary["with"],
            "ratio": round(ratio, 3), "runs": runs}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--comments", type=int, default=1, help="comments per ticket")
    p.add_argument("--queries", type=int, default=300, help="rounds of each query")
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip-watchers", action="store_true")
    p.add_argument("--workdir", type=Path, help="keep the store here and reuse it next time")
    p.add_argument("--watch", metavar="BASE", help=argparse.SUPPRESS)  # the watchers' own process
    p.add_argument("--cookie", help=argparse.SUPPRESS)  # and the supervisor's session it watches with
    args = p.parse_args(argv)
    if args.watch:
        asyncio.run(watch_only(args.watch, args.cookie, args.watchers, args.seconds))
        return 0
    git = git_head()
    with workdir(args.workdir, "desk-queries-") as work:
        store = work / "tickets.sqlite3"
        loaded_s = load(store, args.tickets, args.comments)
        from gateway.settings import load_settings

        with redis_server(work / "redis-q", "unix", None) as (_, info):
            conf = yaml.safe_load(DEFAULT_CONFIG.read_text())
            conf["data_dir"], conf["redis"]["url"] = str(work / "data-q"), info.url
            (work / "gateway-q.yaml").write_text(yaml.safe_dump(conf))
            settings = load_settings(work / "gateway-q.yaml", env={})
            say("measuring the desk's and the dashboard's queries")
            measured = queries(store, settings, args.queries)
        watchers = None if args.skip_watchers else watchers_bench(work, store, args)
    out = {"bench": "desk_queries", "tickets": args.tickets, "comments_per_ticket": args.comments,
           "load_s": round(loaded_s, 1), "queries": measured, "target_p99_ms": 200, "sse": watchers,
           **provenance(git)}  # fmt: skip
    print_json(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
