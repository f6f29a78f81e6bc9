"""Incidents log ids and counts only: no requester's name, address or words, and not the operator's message."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Gateway, form
from tests.support.gateway import intake

NAME = "Marisol Quintanilla-Okafor"
EMAIL = "marisol.q.okafor@example.net"
BODY = "No internet since 7am, Mateo cannot submit his essay"
UPDATE = "Nurse Alvarez confirms the lab network is back"


async def test_linking_and_fanning_out_an_incident_logs_none_of_the_personal_values(
    gateway: Gateway, config_path: Path, tmp_path: Path
) -> None:
    log = tmp_path / "processes.log"
    opened = intake(config_path, "incident", "open", "--title", "Network down", "--match", "internet",
                    "--until", "2999-01-01T00:00", log=log)  # fmt: skip
    assert opened.returncode == 0
    assert (await gateway.post_form(form(name=NAME, email=EMAIL, message=BODY))).status == 202
    intake(config_path, "worker", "--burst", log=log)
    intake(config_path, "incident", "update", "1", "--status", "resolved", "--message", UPDATE, log=log)
    intake(config_path, "worker", "--burst", log=log)
    intake(config_path, "incident", "show", "1", log=log)

    logs = log.read_text()
    assert "request linked to incident" in logs and "incident fan-out chunk" in logs, "nothing logged: proves nothing"
    shown = logs.split("incident 1 [open, resolved]", 1)[0]  # the operator's own `show` output may quote the update
    for secret in (NAME, EMAIL, BODY, "Mateo", UPDATE):
        assert secret not in shown, f"a log line carries {secret[:12]}..."
