"""`intake audit list` pages through a long log: the 51st entry is one `--page 2` away, and --csv has them all."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gateway.tickets import TicketStore
from tests.gateway.cli.test_users_and_audit import config, run
from tests.support.gateway import settings_from

ENTRIES = 120


def _log_entries(cfg: Path) -> None:
    store = TicketStore.from_settings(settings_from(cfg))
    try:
        for n in range(1, ENTRIES + 1):
            store.audit.record("ana", "download", None, {"n": n})
    finally:
        store.close()


def _numbers(stdout: str) -> list[int]:
    return [int(line.split('"n": ')[1].rstrip("}")) for line in stdout.splitlines() if '"n": ' in line]


def test_audit_list_pages_through_every_entry_and_says_how_to_get_the_next(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    _log_entries(cfg)

    first = run(cfg, "audit", "list")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == f"entries 1-50 of {ENTRIES}; next: --page 2"
    assert _numbers(first.stdout) == list(range(ENTRIES, ENTRIES - 50, -1))

    second = run(cfg, "audit", "list", "--page", "2")
    assert second.stdout.strip().splitlines()[-1] == f"entries 51-100 of {ENTRIES}; next: --page 3"
    assert _numbers(second.stdout)[0] == ENTRIES - 50  # the 51st newest

    last = run(cfg, "audit", "list", "--page", "3")
    assert last.stdout.strip().splitlines()[-1] == f"entries 101-{ENTRIES} of {ENTRIES}"
    assert _numbers(last.stdout) == list(range(20, 0, -1))

    wide = run(cfg, "audit", "list", "--per-page", "200")
    assert wide.stdout.strip().splitlines()[-1] == f"entries 1-{ENTRIES} of {ENTRIES}"

    beyond = run(cfg, "audit", "list", "--page", "9")
    assert beyond.stdout.strip().splitlines()[-1] == f"no entries on page 9 (of {ENTRIES} entries)"


def test_audit_list_csv_streams_every_entry(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    _log_entries(cfg)
    rows = list(csv.DictReader(io.StringIO(run(cfg, "audit", "list", "--csv").stdout)))
    assert len(rows) == ENTRIES
