"""Running the gateway for a test: configuration files, the web app over real HTTP, real rq workers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-form-token-7d1c"
SIGNING_SECRET = "test-signing-secret-91ab"
OPERATOR_TOKEN = "test-operator-token-5c3e"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SUBPROCESS_DEADLINE_S = 170.0


def write_config(directory: Path, redis_url: str, **overrides: Any) -> Path:
    """A complete gateway.yaml for a test, from the shipped default with test values on top."""
    base = yaml.safe_load((REPO / "config" / "gateway.yaml").read_text())
    base["data_dir"] = str(directory / "data")
    base["secret_key"] = "test-secret-key"
    base["redis"]["url"] = redis_url
    base["redis"]["socket_timeout_s"] = 5.0  # a loaded CI machine can hold a reply past 0.5 s
    base["server"]["port"] = 0
    base["jobs"]["retry_intervals"] = [0, 0]
    base["channels"]["webform"]["sources"]["demo"] = {"token": TOKEN, "signing_secret": SIGNING_SECRET}
    # Tests send many requests from one address, often naming the same family: the limits are checked on every
    # request all the same, but only tests/gateway/web/test_rate_limits.py sets them low enough to refuse.
    base["rate_limits"] = {
        "form_per_client": "100000/hour",
        "hook_per_client": "100000/hour",
        "per_address": "100000/hour",
    }
    base["logging"]["level"] = "DEBUG"
    _merge(base, overrides)
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True))
    return path


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def settings_from(path: Path) -> Settings:
    return load_settings(path, env={})


def intake(
    config: Path, *args: str, timeout: float = SUBPROCESS_DEADLINE_S, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `intake` command (a new process, as an operator would).

    The deadline only catches a hang: on a loaded machine `intake worker --burst` took over 60 s, so it is set
    just under the test's own timeout (pyproject's 180 s) rather than at what a quiet machine needs."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "REDIS_", "PORT", "HOST", "DATABASE_URL"))
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
    )  # fmt: skip
    if log is not None:
        with log.open("a") as f:
            f.write(proc.stdout + proc.stderr)
    return proc


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """A long-running worker in its own process group (so a test can SIGKILL the whole group)."""
    return start_process(config, log, "worker")


def start_process(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """A long-running `intake <args>` in its own process group, its output appended to `log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "REDIS_", "DATABASE_URL"))}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "--config", str(config), *args],
            stdout=out, stderr=out, env=env, cwd=REPO, start_new_session=True,
        )  # fmt: skip


def tickets_by_conversation(settings: Settings) -> Counter[str]:
    """The built-in store's tickets per conversation; none before the worker has created the store."""
    path = settings.path_in_data("tickets.sqlite3")
    if not path.exists():
        return Counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return Counter(row[0] for row in db.execute("SELECT conversation FROM tickets"))
    except sqlite3.OperationalError:  # the store is still being created
        return Counter()
    finally:
        db.close()
