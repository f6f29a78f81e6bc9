"""What keeping and reading one attachment costs in each blob store: `file` (data_dir/blobs, fsynced) and
`postgres` (the built-in store's `blobs` table), through the stores' own code (gateway/store/blob_stores.py).

For each size (4 KiB, 256 KiB, 4 MiB) it puts distinct random files (`--count` of 4 KiB, a quarter as many
of 256 KiB, a tenth of 4 MiB but at least 20) one after another, timing each `put` until it is durable (the
file store's fsyncs; PostgreSQL's commit), then reads each back with `get`. p50 and p99 in ms per operation.
The PostgreSQL server is Debian's, started on a free port with its own data directory (tests/support/postgres.py)
with fsync and synchronous commit ON, as a production server runs, unless `--database-url` names one. Both
stores write to the same disk (`--workdir`, default a temporary directory): a network hop to a real database
server adds its round trip.

Prints one JSON line, with /proc/loadavg before and after (the machine is shared: a number is as good as its load).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import filesystem_of, git_head, print_json, provenance, say, workdir

SIZES = {"4KiB": 4 * 1024, "256KiB": 256 * 1024, "4MiB": 4 * 1024 * 1024}


def proc_loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def measure(blobs: Any, size: int, count: int) -> dict[str, float | int]:
    puts, gets, kept = [], [], []
    for i in range(count):
        data = os.urandom(size)  # distinct files: none is deduplicated
        t = time.perf_counter()
        a = blobs.put(data, f"f{i}.bin")
        puts.append((time.perf_counter() - t) * 1000)
        assert a.kept, a.reason
        kept.append(a.storage_key)
    for key in kept:
        t = time.perf_counter()
        got = blobs.get(key)
        gets.append((time.perf_counter() - t) * 1000)
        assert hashlib.sha256(got).hexdigest() == key
    return {
        "n": count,
        "put_p50_ms": round(statistics.median(puts), 3),
        "put_p99_ms": percentile(puts, 0.99),
        "get_p50_ms": round(statistics.median(gets), 3),
        "get_p99_ms": percentile(gets, 0.99),
    }


@contextmanager
def database(url: str) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.support.postgres import PostgresServer

    server = PostgresServer(durable=True)
    server.start()
    try:
        yield server.create_database("bench")
    finally:
        server.stop()


def settings_for(root: Path, store: str, url: str) -> Any:
    from gateway.settings import Settings

    return Settings.model_validate({
        "data_dir": str(root / store),
        "blobs": {"store": store},
        "backends": {"builtin": {"database_url": url}},
    })  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=400, help="files of 4 KiB per store (fewer of the larger sizes)")
    ap.add_argument("--database-url", default="", help="a PostgreSQL to use instead of starting one")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    from gateway.store.blob_stores import open_blobs

    load_before = proc_loadavg()
    out: dict[str, Any] = {"bench": "blob_stores", "loadavg_before": load_before}
    with workdir(args.workdir, "intake-blobs-") as root, database(args.database_url) as url:
        out["filesystem"] = filesystem_of(root)
        for store in ("file", "postgres"):
            blobs = open_blobs(settings_for(root, store, url))
            for label, size in SIZES.items():
                count = {"4KiB": args.count, "256KiB": args.count // 4, "4MiB": max(20, args.count // 10)}[label]
                say(f"{store} {label}: {count} files")
                out[f"{store}_{label}"] = measure(blobs, size, count)
    out["loadavg_after"] = proc_loadavg()
    print_json({**out, **provenance(git_head())}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
