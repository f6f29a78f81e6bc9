"""The morning the Wi-Fi is down: a burst of signed Twilio texts, absorbed with no loss and no 5xx, then turned
into tickets by 1 and by 4 workers.

For each worker count, from a clean state: its own redis-server (appendonly, appendfsync always), the web
process (`intake serve`), and a local stand-in for Twilio's REST API (the acknowledgements go out through
the official client, as in production). The burst is sent as fast as `--concurrency` connections allow,
each text a distinct MessageSid from a distinct parent; then the workers start and the clock runs until
every text is a ticket. One JSON line on stdout; progress on stderr.

The workers' CPU (user + system, read from /proc when the last ticket is made) divided by the tickets is the
run's `worker_cpu_ms_per_ticket`: on a shared 2-core machine it moves far less than the seconds do.
`--profile DIR` records each worker with py-spy (raw collapsed stacks, DIR/w<count>-worker<n>.txt).

    .venv/bin/python bench/sms_burst.py --texts 10000 --workers 1 4
    .venv/bin/python bench/sms_burst.py --texts 3000 --workers 4 --profile /tmp/burst-profile [--profile-idle]
    .venv/bin/python bench/sms_burst.py --texts 10000 --workers 4 --profile /tmp/burst-cpu --profile-gil
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import REPO, BenchError, child_env, free_port, py_spy_record, running, say, stop, ticket_count
from bench.harness_cpu import CLK_TCK, proc_ticks
from bench.harness_redis import deliver_queue, redis_server
from bench.intake_throughput import wait_healthy
from bench.throughput_modes import TwilioSmsMode, gateway_config
from tests.support.twilio_api import TwilioStandIn

DELIVER_QUEUE = deliver_queue()


async def burst(port: int, mode: TwilioSmsMode, texts: int, concurrency: int, run_id: str) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(texts):
        queue.put_nowait(i)
    url = f"http://127.0.0.1:{port}{mode.path}"

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            req = mode.make(i, run_id)
            for _attempt in range(5):  # what Twilio does on a connection error: try again
                try:
                    async with session.post(url, data=req.body, headers=req.headers) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                        break
                except aiohttp.ClientError:
                    errors += 1
                    await asyncio.sleep(0.1)

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {"absorb_s": round(seconds, 2), "texts_per_s": round(texts / seconds, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "connection_errors": errors}  # fmt: skip


def redis_calls(client: Any) -> Counter[str]:
    """Commands Redis has run so far, by name (INFO commandstats)."""
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in client.info("commandstats").items()})


def profile_workers(
    stack: ExitStack, procs: list[subprocess.Popen[bytes]], out: Path, workers: int, idle: bool, gil: bool = False
) -> None:
    """py-spy on every worker (non-blocking: the workers are not paused to be sampled), stopped with SIGINT at the
    end of the run (it writes its file then). `idle`: the waits too (Redis's answers, fsyncs), where a worker's
    wall-clock time goes rather than its CPU. `gil`: only the samples where a worker holds its interpreter lock, close
    to where its CPU goes."""
    out.mkdir(parents=True, exist_ok=True)
    for n, proc in enumerate(procs):
        flags = ["--nonblocking", *(["--idle"] if idle else []), *(["--gil"] if gil else [])]
        cmd = py_spy_record(proc.pid, out / f"w{workers}-worker{n}.txt", 100, *flags)
        with (out / "py-spy.log").open("ab") as log:
            spy = subprocess.Popen(cmd, stdout=log, stderr=log)
        stack.callback(stop, spy, signal.SIGINT, 60)


def one_run(
    workdir: Path,
    texts: int,
    workers: int,
    concurrency: int,
    timeout_s: float,
    profile: Path | None = None,
    profile_idle: bool = False,
    profile_gil: bool = False,
) -> dict[str, Any]:
    mode = TwilioSmsMode()
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        api = TwilioStandIn(mode.account_sid, mode.auth_token, workdir).start()
        stack.callback(api.stop)
        client, info = stack.enter_context(redis_server(workdir / "redis", "unix", None))
        port = free_port()
        base = gateway_config(mode, workdir, info.url, port)
        base["channels"]["twilio"].update(api_base_url=api.base_url, ca_file=str(api.ca_file), quiet_hours="",
                                          sends_per_second_per_number=1000)  # fmt: skip
        config = workdir / "gateway.yaml"
        config.write_text(yaml.safe_dump(base, allow_unicode=True))
        cmd = [sys.executable, "-m", "gateway.cli", "--config", str(config)]
        web = stack.enter_context(running([*cmd, "serve"], workdir / "web.log", env=child_env({})))
        wait_healthy(port, web, workdir / "web.log", "gateway")
        say(f"{workers} worker(s): sending {texts} texts")
        result = asyncio.run(burst(port, mode, texts, concurrency, f"w{workers}"))
        committed = int(client.llen(DELIVER_QUEUE))
        say(f"absorbed in {result['absorb_s']}s: {result['statuses']}, {committed} committed")
        calls_before = redis_calls(client)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        procs = [
            stack.enter_context(running([*cmd, "worker"], workdir / f"worker{n}.log", env=child_env({})))
            for n in range(workers)
        ]
        if profile is not None:
            profile_workers(stack, procs, profile, workers, profile_idle, profile_gil)
        db = workdir / "data" / "tickets.sqlite3"
        made = 0
        while time.perf_counter() - started < timeout_s:
            made = ticket_count(db)
            if made >= texts:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        cpu_s = sum(proc_ticks(p.pid) or 0 for p in procs) / CLK_TCK
        say(f"{made} tickets after {seconds:.1f}s with {workers} worker(s), {cpu_s:.1f}s of their CPU")
        calls = redis_calls(client) - calls_before
        per_ticket = {name: round(n / max(made, 1), 2) for name, n in calls.most_common(12)}
        return {**result, "workers": workers, "committed": committed, "tickets": made,
                "until_all_tickets_s": round(seconds, 1), "acks_sent": len(api.messages),
                "worker_cpu_s": round(cpu_s, 1), "worker_cpu_ms_per_ticket": round(1000 * cpu_s / max(made, 1), 2),
                "redis_calls_per_ticket": round(calls.total() / max(made, 1), 1), "redis_top_per_ticket": per_ticket,
                "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)], "profiled": profile is not None,
                "no_loss": committed == texts == made,
                "no_5xx": not any(int(k) >= 500 for k in result["statuses"])}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=10_000, help="texts in the burst (default 10000)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker counts to measure (default 1 4)")
    p.add_argument("--concurrency", type=int, default=64, help="connections sending at once (default 64)")
    p.add_argument("--timeout", type=float, default=1800.0, help="longest wait for the tickets, seconds")
    p.add_argument("--profile", type=Path, default=None, help="py-spy every worker into this folder (raw stacks)")
    p.add_argument("--profile-idle", action="store_true", help="py-spy --idle: where the wall-clock time goes")
    p.add_argument("--profile-gil", action="store_true", help="py-spy --gil: where the CPU goes")
    args = p.parse_args(argv)
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="sms-burst-") as tmp:
            for w in args.workers:
                runs.append(
                    one_run(
                        Path(tmp) / f"w{w}",
                        args.texts,
                        w,
                        args.concurrency,
                        args.timeout,
                        args.profile,
                        args.profile_idle,
                        args.profile_gil,
                    )
                )
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    print(json.dumps({"bench": "sms_burst", "texts": args.texts, "runs": runs, "repo": str(REPO)}))
    return 0 if all(r["no_loss"] and r["no_5xx"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
