"""What the intake pipeline costs the web process per message, without HTTP: identity, language, threading,
routing and the group commit, against its own redis-server.

`intake_throughput.py` measures the whole request path, and on a shared VM its rates and even its CPU per
message move by ±20% from one round to the next. This drives the real `Pipeline.accept` the way a loaded
web process does (`--concurrency` messages at once, waves after waves, the heap settled as `intake serve`
settles it) and reads this process's own CPU time. Rounds repeat within a few percent, so a change to what
the request path does per message (threading, routing, the commit's Python side) can be judged here, and
two checkouts compared side by side: run each one's copy of this file.

Prints one JSON line: `cpu_us_per_msg` (median of `--rounds`), `per_round`, `mean_batch_size`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.commit_cost import message, settings_for
from bench.harness import say
from bench.harness_redis import redis_server
from gateway.intake.runtime import build_runtime
from gateway.models import InboundMessage, ThreadHints
from gateway.server.eventloop import settle_heap
from gateway.tasks import cancel_and_wait


def inbound(channel: str, n: int) -> InboundMessage:
    m = message(channel, n).message
    if channel == "sms":  # as channels/twilio builds a text: it threads by sender
        m = m.model_copy(update={"thread_hints": ThreadHints(sender_continuity=True)})
    return m


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with redis_server(work / "redis", "unix", None) as (_, info):
        rt = build_runtime(settings_for(work, info.url), "spool.sqlite3")
        committing = asyncio.create_task(rt.committer.run())
        counter = iter(range(10**9))

        async def wave() -> None:
            ms = [inbound(args.channel, next(counter)) for _ in range(args.concurrency)]
            await asyncio.gather(*(rt.pipeline.accept(m, m.text.encode()) for m in ms))

        try:
            for _ in range(args.warmup_waves):
                await wave()
            settle_heap()
            rounds = []
            for _ in range(args.rounds):
                spent = time.process_time()
                for _ in range(args.waves):
                    await wave()
                rounds.append(round((time.process_time() - spent) / (args.waves * args.concurrency) * 1e6, 1))
                say(f"round: {rounds[-1]} µs of CPU per message")
            batches = rt.metrics.registry.get_sample_value("intake_commit_batch_size_count") or 1
            total = rt.metrics.registry.get_sample_value("intake_commit_batch_size_sum") or 0
        finally:
            await cancel_and_wait(committing)
            await rt.close()
    return {
        "bench": "pipeline_cost",
        "channel": args.channel,
        "concurrency": args.concurrency,
        "messages_per_round": args.waves * args.concurrency,
        "cpu_us_per_msg": statistics.median(rounds),
        "per_round": rounds,
        "mean_batch_size": round(total / batches, 1),
        "redis_version": info.version,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channel", choices=["sms", "webform"], default="webform")
    p.add_argument("--concurrency", type=int, default=64, help="messages accepted at once (wrk's 64 connections)")
    p.add_argument("--waves", type=int, default=40, help="waves per round (default 40)")
    p.add_argument("--warmup-waves", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="intake-pipeline-cost-") as tmp:
        out = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
