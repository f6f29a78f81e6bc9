"""The one-shot `intake` commands log like the processes do: masked JSON lines on stderr, warnings and up only."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.gateway import intake, write_config

# Google Drive for desktop mounts a shared drive under a folder named after the signed-in account: a directory
# export synced from it carries a person's address in its path.
OWNER = "ana.lopez@district.example.org"


def test_a_one_shot_commands_warning_reaches_stderr_as_a_masked_json_line(tmp_path: Path) -> None:
    export = tmp_path / f"GoogleDrive-{OWNER}" / "exports" / "families.csv"
    export.parent.mkdir(parents=True)
    export.write_text("name,mail\nAna Lopez,ana@example.org\n")  # not the columns the configuration names
    config = write_config(tmp_path, "redis://127.0.0.1:1/0", identity={"csv": [{"path": str(export)}]})

    done = intake(config, "doctor", "--json")

    report = json.loads(done.stdout)  # what a script reads stays one JSON document
    assert any(c["name"] == "directory csv" and not c["ok"] for c in report["checks"])
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    warned = [line for line in lines if line["logger"] == "intake.directory.csv"]
    assert [(w["level"], w["msg"]) for w in warned] == [
        ("warning", "directory file not loaded; keeping its last good rows")
    ], done.stderr
    assert warned[0]["file"].endswith("[email]/exports/families.csv")
    assert OWNER not in done.stderr


def test_tickets_list_json_stays_parseable_and_info_lines_stay_off_the_terminal(tmp_path: Path) -> None:
    # The test configuration runs at logging.level DEBUG, and a first `tickets list` creates the store, which logs
    # a dozen INFO lines (the migration): a one-shot command keeps them off the terminal all the same.
    config = write_config(tmp_path, "redis://127.0.0.1:1/0")

    listed = intake(config, "tickets", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["total"] == 0
    assert listed.stderr == ""
