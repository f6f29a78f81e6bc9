"""Tickets into a real Request Tracker: the gateway's workers next to a bare loop of REST2 POSTs (the ceiling).

Each side gets a fresh RT (Debian's request-tracker5 on SQLite, as the tests start it: tests/support/rt.py),
so neither runs on a database the other filled:

1. ceiling: `--workers` threads POST the tickets to REST2 (`POST /REST/2.0/ticket`, token auth, one
   httpx2 client each, the transport python-rt uses), each with the fields the gateway sends (queue,
   subject, text, requester, priority, our id in the custom field), and nothing else -> ceiling_tickets_per_s;
2. gateway: the web process (`intake serve`) takes `--requests` signed web forms, committed to its own
   redis-server (appendonly, appendfsync always); then `--workers` `intake worker` processes deliver them
   to RT through the rt backend (pacing, the search by our id before each create, the record in Redis, the
   acknowledgement job). The clock runs from the workers' start until every request has its ticket
   -> tickets_per_s.

`duplicates` counts the gateway's tickets in RT beyond one per request (RT's own search on the custom
field). The target (issue 14): ratio >= 0.7 and no duplicates. The machine is shared: `load_1m` says how
busy it was. One JSON line on stdout; progress on stderr.

    .venv/bin/python bench/backend_delivery.py [--requests 2000] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import REPO, BenchError, child_env, free_port, git_head, loadavg_1m, provenance, running, say
from bench.harness_redis import redis_server
from bench.intake_throughput import wait_healthy
from gateway import keys
from tests.support.rt import REQUEST_FIELD, RequestTracker

SECRET = "bench-webform-secret"  # noqa: S105 (a throwaway secret for the bench's own gateway)


def fields(i: int, run: str) -> dict[str, Any]:
    """Request `i` as the ticket the gateway makes of it (the same fields for the ceiling)."""
    return {"Queue": "Transportation", "Subject": "Autobuses y transporte", "ContentType": "text/plain",
            "Content": f"The 7:10 bus to Lincoln did not come this morning ({run} {i}).",
            "Requestor": f"Parent {i} <parent{i}.{run}@example.org>", "Priority": 50,
            "CustomFields": {REQUEST_FIELD: f"{run}-{i}"}}  # fmt: skip


def ceiling(rt: RequestTracker, requests: int, workers: int) -> float:
    """Tickets a second from bare REST2 POSTs at the gateway's concurrency."""
    todo = list(range(requests))
    made = Counter[str]()

    def post_all(shard: list[int]) -> None:
        with httpx2.Client(timeout=120, headers={"Authorization": f"token {rt.token}"}) as client:
            for i in shard:
                resp = client.post(rt.rest_url + "ticket", json=fields(i, "ceiling"))
                if resp.status_code != 201:
                    raise BenchError(f"RT answered {resp.status_code}: {resp.text[:200]}")
                made["tickets"] += 1
                if made["tickets"] % 250 == 0:
                    say(f"ceiling: {made['tickets']} tickets, load {loadavg_1m()}")

    shards = [todo[n::workers] for n in range(workers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(post_all, shards))
    return requests / (time.perf_counter() - started)


def form(i: int, run: str) -> dict[str, Any]:
    return {"name": f"Parent {i}", "email": f"parent{i}.{run}@example.org", "category": "transportation",
            "school": "lhs", "language": "en",
            "message": f"The 7:10 bus to Lincoln did not come this morning ({run} {i})."}  # fmt: skip


async def submit(port: int, requests: int, run: str, concurrency: int = 16) -> Counter[int]:
    statuses: Counter[int] = Counter()
    pending = list(range(requests))

    async def sender(session: aiohttp.ClientSession) -> None:
        while pending:
            i = pending.pop()
            body = json.dumps(form(i, run)).encode()
            # Signed as a form source signs now (README, web form): a timestamp, then the HMAC of "<t>.<body>".
            t = str(int(time.time()))
            mac = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Intake-Signature": f"t={t},v1={mac}"}
            async with session.post(f"http://127.0.0.1:{port}/hooks/webform", data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    return statuses


def gateway_run(rt: RequestTracker, work: Path, requests: int, workers: int, timeout_s: float) -> dict[str, Any]:
    with ExitStack() as stack:
        client, info = stack.enter_context(redis_server(work / "redis", "unix", None))
        port = free_port()
        conf = yaml.safe_load((REPO / "config" / "gateway.yaml").read_text())
        conf.update(data_dir=str(work / "data"), secret_key="bench-secret-key")  # noqa: S106
        conf["redis"]["url"] = info.url
        conf["server"]["port"] = port
        conf["logging"]["level"] = "WARNING"
        conf["channels"]["webform"]["sources"]["demo"] = {"signing_secret": SECRET, "token": ""}
        conf["backends"]["default"] = "rt"
        conf["backends"]["rt"].update(url=rt.url, token=rt.token, queue="General",
                                      map={"queue": {"transportation": "Transportation"}})  # fmt: skip
        config = work / "gateway.yaml"
        config.write_text(yaml.safe_dump(conf, allow_unicode=True))
        cmd = [sys.executable, "-m", "gateway.cli", "--config", str(config)]
        web = stack.enter_context(running([*cmd, "serve"], work / "web.log", env=child_env({})))
        wait_healthy(port, web, work / "web.log", "gateway")
        statuses = asyncio.run(submit(port, requests, "gw"))
        if statuses != Counter({202: requests}):
            raise BenchError(f"the web process answered {dict(statuses)}")
        ids = [k.decode().removeprefix(keys.request("")) for k in client.scan_iter(keys.request("*"))]
        say(f"{len(ids)} requests committed; {workers} workers delivering them to RT")
        started = time.perf_counter()
        for n in range(workers):
            stack.enter_context(running([*cmd, "worker"], work / f"worker{n}.log", env=child_env({})))
        done = 0
        while time.perf_counter() - started < timeout_s:
            with client.pipeline(transaction=False) as pipe:
                for rid in ids:
                    pipe.hexists(keys.request(rid), "ticket_ref")
                done = sum(bool(x) for x in pipe.execute())
            if done >= requests:
                break
            if int(time.perf_counter() - started) % 60 == 0:
                say(f"gateway: {done} tickets, load {loadavg_1m()}")
            time.sleep(1.0)
        seconds = time.perf_counter() - started
        say(f"{done} tickets after {seconds:.1f}s")
        if done < requests:
            raise BenchError(f"only {done} of {requests} tickets after {timeout_s:.0f}s")
        return {"tickets_per_s": requests / seconds, "ids": ids}


def duplicates(rt: RequestTracker, ids: list[str]) -> int:
    found = Counter[str]()
    for ticket in rt.search(f"'CF.{{{REQUEST_FIELD}}}' IS NOT NULL", fields="CustomFields"):
        for cf in ticket["CustomFields"]:
            if cf["name"] == REQUEST_FIELD:
                found.update(cf["values"])
    missing = [i for i in ids if i not in found]
    if missing:
        raise BenchError(f"{len(missing)} requests have no ticket in RT")
    return sum(found.values()) - len(found)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="tickets each side makes (default 2000)")
    p.add_argument("--workers", type=int, default=4, help="gateway workers, and ceiling threads (default 4)")
    p.add_argument("--timeout", type=float, default=3600.0, help="longest wait for the gateway's tickets, seconds")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the RTs and workers are stopped too
    load_before = loadavg_1m()
    try:
        with tempfile.TemporaryDirectory(prefix="backend-delivery-") as tmp:
            with RequestTracker(workers=args.workers) as rt:
                say(f"RT up in {rt.started_in_s:.1f}s; ceiling: {args.requests} bare REST2 POSTs")
                ceiling_per_s = ceiling(rt, args.requests, args.workers)
                say(f"ceiling {ceiling_per_s:.2f} tickets/s")
            with RequestTracker(workers=args.workers) as rt:
                run = gateway_run(rt, Path(tmp), args.requests, args.workers, args.timeout)
                dupes = duplicates(rt, run["ids"])
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    out = {"bench": "backend_delivery", "backend": "rt", "requests": args.requests, "workers": args.workers,
           "tickets_per_s": round(run["tickets_per_s"], 2), "ceiling_tickets_per_s": round(ceiling_per_s, 2),
           "ratio": round(run["tickets_per_s"] / ceiling_per_s, 3), "duplicates": dupes,
           "load_1m": {"before": load_before, "after": loadavg_1m()}, **provenance(git_head())}  # fmt: skip
    print(json.dumps(out), flush=True)
    return 0 if out["ratio"] >= 0.7 and dupes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
