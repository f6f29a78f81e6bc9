"""A real Redmine for the tests: Debian's `redmine` package (5.0) on its own SQLite database and a free port.

Debian's Redmine keeps each site in an *instance*: `REDMINE_INSTANCE=<name>` makes it read its
database.yml, secret key and configuration from `/usr/share/redmine/instances/<name>/config` and write its
logs, tmp and files beside them. The name is joined to that path, so a relative name that climbs back to
`/` reaches a temporary directory of ours: the package's own files and its default site stay untouched.
Enough `..` are used that the path reads the same whether `..` is followed through the `instances`
symlink (the kernel) or cut lexically (Ruby's expand_path).

The server is Rails' own (`rails server`) on WEBrick, which ships with Debian's Ruby; WEBrick is not in
Redmine's Gemfile, so a Gemfile of ours adds it to Redmine's (BUNDLE_GEMFILE). No web server package.

Migrating a database and loading Redmine's default data takes ~10 s on an idle machine (several times
that on a loaded one), so it happens once: the prepared database, with the gateway's project, custom
fields, role and users made by `redmine_setup.rb`, is kept under `~/.cache/intake-gateway-tests/redmine/`
(keyed by the package's version and the setup script) and each server starts on a copy of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.redis_server import free_port

ROOT = Path("/usr/share/redmine")
SETUP = Path(__file__).with_name("redmine_setup.rb")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "intake-gateway-tests" / "redmine"
GEMFILE = """\
# Redmine's own Gemfile, plus what the tests run it with: WEBrick (Rails' server), and the SQLite adapter even
# when no site of the package's own uses SQLite.
eval_gemfile "/usr/share/redmine/Gemfile"
gem "sqlite3" unless @dependencies.any? { |d| d.name == "sqlite3" }
gem "webrick" unless @dependencies.any? { |d| d.name == "webrick" }
"""
READY_TIMEOUT_S = 240.0  # a cold Rails boot on a loaded 2-core machine


def installed_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "redmine"], capture_output=True, text=True)
    assert out.returncode == 0 and ROOT.exists(), "redmine missing: `make system` installs redmine and redmine-sqlite"
    return out.stdout.strip()


class Instance:
    """One Redmine site in a directory of ours: its config, database, logs and files."""

    def __init__(self, directory: Path, database: Path) -> None:
        self.dir = directory
        self.database = database
        for sub in ("config", "tmp", "log", "files", "public/plugin_assets"):
            (directory / "site" / sub).mkdir(parents=True, exist_ok=True)
        config = directory / "site" / "config"
        (config / "database.yml").write_text(
            f"production:\n  adapter: sqlite3\n  database: {database}\n  timeout: 15000\n"
        )
        (config / "secret_key.txt").write_text(secrets.token_hex(32))
        (directory / "Gemfile").write_text(GEMFILE)

    def env(self, **extra: str) -> dict[str, str]:
        instances = os.path.realpath(ROOT / "instances")
        climb = "../" * (len(Path(instances).parts) + len((ROOT / "instances").parts))
        site = str((self.dir / "site").resolve()).lstrip("/")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BUNDLE_", "RAILS_", "REDMINE_", "RUBY"))}
        env.update(BUNDLE_GEMFILE=str(self.dir / "Gemfile"), REDMINE_INSTANCE=climb + site, RAILS_ENV="production")
        env.update(extra)
        return env

    def run(self, *argv: str, timeout: float = 600, **env: str) -> str:
        result = subprocess.run(
            list(argv), cwd=ROOT, env=self.env(**env), capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}"
                               f"\n{result.stderr[-3000:]}")  # fmt: skip
        return result.stdout


@dataclass(frozen=True)
class Prepared:
    """A migrated database with default data and the gateway's set-up, and what the set-up made."""

    database: Path
    facts: dict[str, Any]


def prepared() -> Prepared:
    """The prepared database from the cache, made first if this version and set-up have none yet.

    Several test processes may ask at once (pytest -n 2): one prepares under a file lock, the others wait for it.
    """
    key = hashlib.sha256(installed_version().encode() + SETUP.read_bytes() + GEMFILE.encode()).hexdigest()[:16]
    folder = CACHE / key
    facts_file, database = folder / "facts.json", folder / "redmine.sqlite3"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not facts_file.exists():
            with tempfile.TemporaryDirectory(prefix="redmine-prepare-") as tmp:
                work = Path(tmp) / "redmine.sqlite3"
                site = Instance(Path(tmp), work)
                site.run("ruby", "bin/rake", "db:migrate")
                # A separate process: models loaded before the migrations ran would not know the new columns.
                site.run("ruby", "bin/rake", "redmine:load_default_data", REDMINE_LANG="en")
                out = site.run("ruby", "bin/rails", "runner", str(SETUP))
                facts = json.loads(out.strip().splitlines()[-1])
                shutil.copyfile(work, database.with_suffix(".tmp"))
                os.replace(database.with_suffix(".tmp"), database)
            facts_file.with_suffix(".tmp").write_text(json.dumps(facts))
            os.replace(facts_file.with_suffix(".tmp"), facts_file)  # written last: the cache entry is complete
    return Prepared(database, json.loads(facts_file.read_text()))


class RedmineServer:
    """Redmine on 127.0.0.1:`port` with its REST API on, a copy of the prepared database, and its keys.

    `facts` holds what the set-up made: `api_key` (the gateway's user), `staff_key` (María López, a
    Manager), `admin_key`, the custom field ids `request_field`, `requester_field` and `school_field`, and
    the `projects` (`helpdesk`, `transport`).
    """

    host = "127.0.0.1"

    def __init__(self, ready: Prepared) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="redmine-"))
        database = self.root / "redmine.sqlite3"
        shutil.copyfile(ready.database, database)
        self.site = Instance(self.root, database)
        self.facts = ready.facts
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in_s = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "Redmine already running"
        started = time.monotonic()
        with open(self.root / "server.log", "ab") as out:
            self.proc = subprocess.Popen(
                ["ruby", "bin/rails", "server", "-u", "webrick", "-e", "production", "-b", self.host,
                 "-p", str(self.port), "-P", str(self.root / "server.pid")],
                cwd=ROOT, env=self.site.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        deadline = started + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                self._fail(f"exited with status {self.proc.returncode}")
            try:
                self.get("/users/current.json", self.facts["api_key"])
                break
            except (OSError, http.client.HTTPException) as exc:
                if time.monotonic() > deadline:
                    self._fail(f"not ready after {READY_TIMEOUT_S:.0f} s: {exc!r}")
                time.sleep(0.1)
        self.started_in_s = time.monotonic() - started

    def get(self, path: str, key: str) -> Any:
        """GET a REST path as the user of `key`; OSError until Redmine answers 200."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"X-Redmine-API-Key": key})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise ConnectionError(f"GET {path}: {resp.status}")
        return json.loads(body)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _fail(self, reason: str) -> None:
        log = (self.root / "server.log").read_text(errors="replace").splitlines()[-40:]
        self.stop()
        raise RuntimeError(f"Redmine did not start ({reason}). Log tail:\n" + "\n".join(log))
