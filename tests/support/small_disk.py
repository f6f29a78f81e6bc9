"""A small filesystem of the test's own (tmpfs, mounted as root), to fill up and free again."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

CHUNK = 65536


@contextlib.contextmanager
def small_disk(mount: Path, size: str = "8m") -> Iterator[Path]:
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Write a filler file until the disk refuses, then give back `leave` bytes: a write bigger than that fails
    part way, which is where half-written files come from."""
    filler = disk / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * CHUNK)
            f.flush()
    if leave:
        with filler.open("r+b") as f:
            f.truncate(max(0, filler.stat().st_size - leave))
    return filler
