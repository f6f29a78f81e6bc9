"""`--baseline <git-ref>`: an older commit's code, checked out in a temporary `git worktree`, for a bench to run
side by side with the working tree in one run (same machine, same load, same servers). Removed afterwards."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import REPO, BenchError


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


@contextmanager
def baseline_tree(ref: str) -> Iterator[tuple[Path, str]]:
    """The code of `ref` (its directory, and its short hash). A process started with this directory as its
    working directory imports the baseline's packages (`python -m` puts it first on sys.path)."""
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="intake-baseline-"))
    tree = parent / "tree"
    _git("worktree", "add", "--detach", str(tree), commit)
    try:
        yield tree, commit
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], capture_output=True, cwd=REPO)
        subprocess.run(["git", "worktree", "prune"], capture_output=True, cwd=REPO)
        shutil.rmtree(parent, ignore_errors=True)


def known_to(conf: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`conf` without the sections, and the keys of sections, that an older shipped config does not have."""
    kept: dict[str, Any] = {}
    for key, value in conf.items():
        if key not in old:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict) and key != "channels":
            kept[key] = known_to(value, old[key])  # at every depth: backends.builtin gained keys too
        else:
            kept[key] = value
    return kept
