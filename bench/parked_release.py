"""What a worker's release of parked replies costs it: CPU and RSS per pass, with many replies parked.

Every worker releases parked replies when it starts and on each of rq's maintenance passes (every 10 minutes).
A district that leaves email replies off (no mailbox with `smtp`, the default install) parks one for every web
form, so by the afternoon of a busy day the list holds hundreds of thousands. This bench parks `--parked`
replies on a channel that is not switched on (email) and `--sendable` on one that is (the web form), then runs
`--passes` releases in this process, as a worker's maintenance pass does, then `--sweeps` retention sweeps (which
walk the same lists; nothing is old enough to forget), against its own redis-server.

One JSON line: the process's RSS before the first pass and after each pass and sweep, their CPU seconds, and what
each pass released and left waiting.

    .venv/bin/python bench/parked_release.py                       # 120,000 parked email replies, 3 passes
    .venv/bin/python bench/parked_release.py --sendable 20000      # and 20,000 that go back on the queue
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BenchError, git_head, print_json, workdir
from bench.harness_redis import redis_server
from bench.soak import rss_kb
from gateway.models import Reply
from gateway.outbox.parked import park
from gateway.server.eventloop import settle_heap
from tests.support.gateway import settings_from, write_config
from workers import context
from workers.parked import release_parked
from workers.retention import sweep

# About the size of the soak's email acknowledgement (its text, subject and status link).
TEXT = (
    "Thank you, we received your request. Its reference is ABC-1234; you can follow it without logging in at "
    + "https://help.example.org/status/"
    + "x" * 120
    + " . We answer within one school day. "
) * 2


def own_rss_kb() -> int:
    return rss_kb(os.getpid())


def fill(client: Any, channel: str, count: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            reply = Reply(conversation=f"c{channel}{n:08d}", channel=channel, recipient=f"family{n}@example.org",
                          event="received", subject="We received your request", text=TEXT)  # fmt: skip
            park(pipe, reply, f"reply-{n:08d}-{channel}")
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with redis_server(work / "redis", "unix", None) as (client, info):
        settings = settings_from(write_config(work, info.url))
        context.configure(settings)
        if "email" in context.channels() or "webform" not in context.channels():
            raise BenchError("the bench needs email off and the web form on: the shipped config/gateway.yaml changed")
        fill(client, "email", args.parked)
        fill(client, "webform", args.sendable)
        settle_heap()
        gc.collect()
        out: dict[str, Any] = {"rss_kb_before": own_rss_kb(), "passes": [], "sweeps": []}
        for _ in range(args.passes):
            cpu = time.process_time()
            parking = release_parked(client, context.channels(), context.services())
            out["passes"].append({
                "cpu_s": round(time.process_time() - cpu, 2),
                "rss_kb": own_rss_kb(),
                "released": sum(parking.released.values()),
                "waiting": sum(sum(c.values()) for c in parking.waiting.values()),
            })  # fmt: skip
        for _ in range(args.sweeps):  # the retention sweep, which also walks the lists, with nothing to forget
            cpu = time.process_time()
            forgotten = sweep(client, settings)
            out["sweeps"].append({"cpu_s": round(time.process_time() - cpu, 2), "rss_kb": own_rss_kb(),
                                  "forgotten": forgotten.conversations})  # fmt: skip
        out["rss_growth_kb"] = own_rss_kb() - out["rss_kb_before"]
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parked", type=int, default=120_000, help="email replies parked (default 120000)")
    p.add_argument("--sendable", type=int, default=0, help="web-form replies parked, which go back (default 0)")
    p.add_argument("--passes", type=int, default=3, help="release passes (default 3)")
    p.add_argument("--sweeps", type=int, default=3, help="retention sweeps after them (default 3)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the run's files here")
    args = p.parse_args(argv)
    try:
        with workdir(args.workdir, "parked-") as work:
            out = run(args, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    head = {"bench": "parked_release", "git": git_head(), "parked": args.parked, "sendable": args.sendable}
    print_json({**head, **out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
