"""What one committed message costs Redis: the commit script alone, without HTTP or a shared core.

`intake_throughput.py` measures the whole request path, and on a shared VM its rates move by ±20% from
one round to the next. This drives the real `Committer` with batches of new messages (text messages by
default, or web form ones) against its own redis-server (`appendonly yes`, `appendfsync always`), and
reads Redis's own CPU counters, command statistics and AOF size. Those repeat within a few percent, so
a change to the commit script or to what a message writes can be judged here first.

Prints one JSON line: `redis_cpu_us_per_msg` (median of `--rounds`), `script_us_per_msg`,
`aof_bytes_per_msg`, `calls_per_msg` by command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DEFAULT_CONFIG, say
from bench.harness_redis import redis_server
from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.settings import Settings, load_settings
from gateway.store.commit import Committer

TEXT = "The Wi-Fi at Lincoln High is down again and my daughter cannot submit her homework"


def settings_for(work: Path, url: str) -> Settings:
    conf = yaml.safe_load(DEFAULT_CONFIG.read_text())
    conf["data_dir"] = str(work / "data")
    conf["secret_key"] = secrets.token_hex(16)
    conf["redis"]["url"] = url
    path = work / "gateway.yaml"
    path.write_text(yaml.safe_dump(conf))
    return load_settings(path, env={})


def message(channel: str, n: int) -> Commitment:
    mid = new_id()
    if channel == "sms":
        sender = f"+1555{n:07d}"
        requester = Requester(phone=sender, campus="district")
        provider_id = f"SM{n:032x}"
    else:
        sender = f"parent{n}@example.org"
        requester = Requester(display_name=f"Parent {n}", email=sender, campus="lhs")
        provider_id = f"bench-{n}"
    m = InboundMessage(id=mid, channel=channel, account="main", provider_id=provider_id, sender=sender,
                       requester=requester, subject=TEXT[:60], text=TEXT, full_text=TEXT, category="general",
                       campus=requester.campus)  # fmt: skip
    route = Route(category="general", tags=(channel,), sla_policy="standard", rule_ids=("default",))
    fp = fingerprint(channel, "main", provider_id, TEXT.encode())
    return Commitment(message=m, fingerprint=fp, conversation=mid, route=route)


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def calls(client: redis.Redis) -> dict[str, tuple[int, int]]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


async def one_round(committer: Committer, client: redis.Redis, batches: list[list[Commitment]]) -> dict[str, Any]:
    cpu0, calls0 = redis_cpu(client), calls(client)
    aof0 = int(client.info("persistence")["aof_current_size"])
    for batch in batches:
        await committer.commit(batch)
    cpu1, calls1 = redis_cpu(client), calls(client)
    aof1 = int(client.info("persistence")["aof_current_size"])
    n = sum(len(b) for b in batches)
    delta = {k: (c - calls0.get(k, (0, 0))[0], u - calls0.get(k, (0, 0))[1]) for k, (c, u) in calls1.items()}
    script = delta.get("evalsha", (0, 0))[1]
    return {
        "redis_cpu_us_per_msg": round((cpu1 - cpu0) / n * 1e6, 1),
        "script_us_per_msg": round(script / n, 1),
        "aof_bytes_per_msg": round((aof1 - aof0) / n),
        "calls_per_msg": {k: round(c / n, 3) for k, (c, _) in sorted(delta.items()) if c and k != "info"},
    }


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with redis_server(work / "redis", "unix", None) as (client, info):
        settings = settings_for(work, info.url)
        aclient = aioredis.Redis.from_url(info.url)
        committer = Committer(aclient, settings)
        counter = iter(range(10**9))
        try:
            warm = [[message(args.channel, next(counter)) for _ in range(args.batch_size)] for _ in range(20)]
            for batch in warm:
                await committer.commit(batch)
            rounds = []
            for _ in range(args.rounds):
                batches = [
                    [message(args.channel, next(counter)) for _ in range(args.batch_size)] for _ in range(args.batches)
                ]
                rounds.append(await one_round(committer, client, batches))
                say(f"round: {rounds[-1]['redis_cpu_us_per_msg']} µs of Redis CPU per message")
        finally:
            await aclient.aclose()
    return {
        "bench": "commit_cost",
        "channel": args.channel,
        "batch_size": args.batch_size,
        "messages_per_round": args.batch_size * args.batches,
        "redis_cpu_us_per_msg": statistics.median(r["redis_cpu_us_per_msg"] for r in rounds),
        "script_us_per_msg": statistics.median(r["script_us_per_msg"] for r in rounds),
        "aof_bytes_per_msg": statistics.median(r["aof_bytes_per_msg"] for r in rounds),
        "calls_per_msg": rounds[-1]["calls_per_msg"],
        "per_round": rounds,
        "redis_version": info.version,
        "appendfsync": info.appendfsync,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channel", choices=["sms", "webform"], default="sms")
    p.add_argument("--batch-size", type=int, default=32, help="messages per commit (the bench's usual batch: 32)")
    p.add_argument("--batches", type=int, default=300, help="commits per round (default 300)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="intake-commit-cost-") as tmp:
        out = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
