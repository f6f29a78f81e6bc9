"""No Slack message text, names, emails, tokens, secrets or signatures in any log, from any process."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.channels.slack_support import SlackGateway, event, payload
from tests.support.gateway import intake
from tests.support.slack_api import BOT_TOKEN, SIGNING_SECRET, USER_EMAIL, USER_NAME, SlackAPI, signed_headers

BODY = "My student Mateo has asthma and his inhaler is in locker 4471"
COMMENT = "Nurse Alvarez will call about the inhaler"


async def test_a_full_slack_run_logs_none_of_the_personal_values_or_secrets(
    slack_gateway: SlackGateway,
    slack_api: SlackAPI,
    slack_config_path: Path,
    tmp_path: Path,
    captured_logs: io.StringIO,
) -> None:
    log = tmp_path / "processes.log"
    dm = event(text=BODY)
    raw = json.dumps(dm).encode()
    headers = signed_headers(raw)
    assert (await slack_gateway.post("/hooks/slack/events", raw, sign=False, headers=headers))[0] == 200
    stranger = event(text=BODY)
    stranger["team_id"] = "T0STRANGER"
    assert (await slack_gateway.event(stranger))[0] == 401
    assert (await slack_gateway.event(event(text=BODY), secret="wrong-secret"))[0] == 401
    modal = payload("view_submission.json")
    modal["view"]["state"]["values"]["description"]["description"]["value"] = BODY
    assert (await slack_gateway.interactive(modal))[0] == 200
    assert (await slack_gateway.command(payload("command_helpdesk.json") | {"text": BODY}))[0] == 200
    slack_api.fail("chat.postMessage", (429, {"Retry-After": "1"}))

    intake(slack_config_path, "worker", "--burst", log=log)
    intake(slack_config_path, "tickets", "update", "1", "--status", "in_progress", "--comment", COMMENT, log=log)
    intake(slack_config_path, "worker", "--burst", log=log)

    logs = captured_logs.getvalue() + log.read_text()
    assert "slack reply posted" in logs and "ticket created" in logs, "nothing logged: the test would prove nothing"
    assert len(slack_api.called("users.info")) >= 1 and len(slack_api.called("chat.postMessage")) >= 3
    for secret in (BODY, "locker 4471", COMMENT, USER_EMAIL, USER_NAME, BOT_TOKEN, SIGNING_SECRET,
                   headers["X-Slack-Signature"], headers["X-Slack-Signature"][3:]):  # fmt: skip
        assert secret not in logs, f"a log line carries {secret[:12]}..."
