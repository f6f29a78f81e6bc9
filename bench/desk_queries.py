"""The desk's and the dashboard's reads at a million tickets, and what 200 live dashboard watchers cost intake.

1. load: `--tickets` (1,000,000) tickets with comments, status history, time entries and files into the built-in
   store (desk_load.py: made and migrated by the store itself, so its indexes and search are the real ones),
   spread over two years, a twentieth of them still open with a running clock. SQLite under the work directory,
   or PostgreSQL with `--database-url`. With `--workdir` (or the same database) the store is kept and reused.
2. queries (desk_reads.py): the desk's pages' own reads, through their own code: the list with each filter and
   sort it offers and its total, deep pages, the filtered search, the ticket page, and the dashboard's whole read,
   `--queries` rounds of every case, interleaved; p50, p99 and max ms per case, the worst p99 per kind, the cases
   over the target (200 ms), and the load average before and after. Then the CSV export's first batch and its
   per-batch cost (1,000 tickets a batch). `--only REGEX` measures only the cases it matches.
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
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.desk_load import load
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

TOKEN = "bench-form-token-51c2"  # noqa: S105 (the bench's own gateway)
OPERATOR = "bench-operator-token-9a0e"
TARGET_MS = 200


def queries(url: str, settings: Any, rounds: int, only: str | None, export_batches: int) -> dict[str, Any]:
    import redis

    from bench.desk_reads import add_people, cases, export_costs, percentiles
    from gateway.dashboard.snapshot import Sources
    from gateway.routing.router import load_ruleset
    from gateway.tickets import TicketStore

    store = TicketStore.open(url)
    add_people(store)
    client = redis.Redis.from_url(settings.redis.url)
    sources = Sources(settings, store, client, load_ruleset(settings), ("sms", "email", "webform"), ())
    rng = random.Random(11)
    chosen = [c for c in cases(store, settings, sources, store.count(), rng) if not only or re.search(only, c.name)]
    for case in chosen:  # once each, unmeasured: the first dashboard read works out every ticket's minutes
        case.run()
    load_before = os.getloadavg()
    samples: dict[str, list[float]] = {c.name: [] for c in chosen}
    for r in range(rounds):  # interleaved, so the machine's load falls on every case alike
        for case in chosen:
            t0 = time.perf_counter()
            case.run()
            samples[case.name].append((time.perf_counter() - t0) * 1000)
        if r % 10 == 9:
            say(f"round {r + 1} of {rounds}")
    load_after = os.getloadavg()
    measured = {name: percentiles(v) for name, v in samples.items()}
    worst: dict[str, dict[str, Any]] = {}
    for case in chosen:
        p99 = measured[case.name]["p99_ms"]
        if case.kind not in worst or p99 > worst[case.kind]["p99_ms"]:
            worst[case.kind] = {"case": case.name, "p99_ms": p99}
    exports = export_costs(store, settings, export_batches) if export_batches and not only else None
    store.close()
    client.close()
    return {
        "cases": measured, "worst_p99_by_kind": worst,
        "over_target": sorted(n for n, m in measured.items() if m["p99_ms"] > TARGET_MS),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "export": exports,
    }  # fmt: skip


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


def watchers_bench(work: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    with redis_server(work / "redis-w", "unix", None) as (_client, info):
        port = free_port()
        conf = yaml.safe_load(DEFAULT_CONFIG.read_text())
        conf["data_dir"] = str(work / "data")
        conf["secret_key"] = "bench-secret"  # noqa: S105
        conf["redis"]["url"] = info.url
        conf["server"].update({"port": port, "operator_token": OPERATOR})
        conf["channels"]["webform"]["sources"]["demo"] = {"token": TOKEN}
        conf["rate_limits"] = {"form_per_client": "off", "hook_per_client": "off", "per_address": "off"}
        conf["backends"]["builtin"]["database_url"] = url
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
    p.add_argument("--comments", type=int, default=1, help="comments per ticket, on average")
    p.add_argument("--queries", type=int, default=100, help="rounds of every case")
    p.add_argument("--only", metavar="REGEX", help="measure only the cases whose name this matches")
    p.add_argument("--export-batches", type=int, default=20, help="batches of the CSV export timed (0: none)")
    p.add_argument("--database-url", help="PostgreSQL (postgresql://...) instead of SQLite under the work directory")
    p.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server (Debian's) for the store")
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
    with workdir(args.workdir, "desk-queries-") as work, contextlib.ExitStack() as stack:
        from gateway.settings import load_settings
        from gateway.tickets.engine import sqlite_url

        url = args.database_url or sqlite_url(work / "tickets.sqlite3")
        if args.postgres and not args.database_url:
            from tests.support.postgres import PostgresServer

            server = PostgresServer(durable=True)
            server.start()
            stack.callback(server.stop)
            url = server.create_database("desk")
        say(f"load average before loading: {os.getloadavg()}")
        loaded_s = load(url, args.tickets, args.comments, say)

        with redis_server(work / "redis-q", "unix", None) as (_, info):
            conf = yaml.safe_load(DEFAULT_CONFIG.read_text())
            conf["data_dir"], conf["redis"]["url"] = str(work / "data-q"), info.url
            (work / "gateway-q.yaml").write_text(yaml.safe_dump(conf))
            settings = load_settings(work / "gateway-q.yaml", env={})
            say("measuring the desk's and the dashboard's queries")
            measured = queries(url, settings, args.queries, args.only, args.export_batches)
        watchers = None if args.skip_watchers else watchers_bench(work, url, args)
    out = {"bench": "desk_queries", "engine": url.split(":", 1)[0].split("+")[0], "tickets": args.tickets,
           "comments_per_ticket": args.comments, "load_s": round(loaded_s, 1), "rounds": args.queries,
           "queries": measured, "target_p99_ms": TARGET_MS, "sse": watchers, **provenance(git)}  # fmt: skip
    print_json(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
