"""A reply parked on its channel's outbound list goes out once something can send it, and only once.

Parked: email with no mailbox that sends, Slack for a team with no workspace, any channel a worker does not
have switched on. A worker puts back what its channels can send when it starts (and every 10 minutes);
`intake replay` does the same; `intake doctor` shows what waits and why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway import keys
from tests.channels.email_support import HELP, mail, mail_config, running_poller
from tests.channels.slack_support import SlackGateway, event
from tests.conftest import start_gateway
from tests.mail_fixtures import IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import SlackAPI, signed_headers, slack_config
from tests.support.smtp_sink import SmtpSink


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-3000:]


def parked(redis_server: RedisServer, channel: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis_server.client().lrange(keys.pending_outbound(channel), 0, -1)]


async def test_an_acknowledgement_parked_for_want_of_smtp_is_mailed_once_a_worker_can_send_it(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    receiving_only = mail_config(tmp_path, redis_server, dovecot, None)
    dovecot.deliver(IMAP_USER, mail())
    async with running_poller(receiving_only) as p:
        assert await p.pass_once() == 1
    work(receiving_only)
    [entry] = parked(redis_server, "email")
    assert (entry["reply"]["event"], entry["reply"]["recipient"]) == ("received", "ana.perez@example.org")
    doctor = intake(receiving_only, "doctor")
    assert "[FAIL] email outbound: 1 waiting: no mailbox sends email" in doctor.stdout

    (tmp_path / "with-smtp").mkdir()
    sending = mail_config(tmp_path / "with-smtp", redis_server, dovecot, smtp_sink)
    work(sending)  # the mailbox can send now: the worker puts the reply back and sends it
    [ack] = smtp_sink.wait_for(1)
    assert ack.message["To"] == "ana.perez@example.org"
    assert ack.message["From"].endswith(f"<{HELP}>")
    assert parked(redis_server, "email") == []
    assert "[ok  ] outbound: no reply is waiting for its channel" in intake(sending, "doctor").stdout

    # Once each: the entry put back again (a worker that died between queueing it and removing it), with its
    # first job long gone, is not mailed twice.
    client = redis_server.client()
    client.rpush(keys.pending_outbound("email"), json.dumps(entry))
    client.delete(*client.scan_iter("rq:job:resend-*"))
    work(sending)
    assert parked(redis_server, "email") == []
    assert len(smtp_sink.messages) == 1


async def test_a_reply_parked_by_a_worker_without_slack_is_posted_once_by_a_worker_with_it(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    with_slack = write_config(tmp_path, redis_server.url, channels={"slack": slack_config(slack_api)})
    (tmp_path / "no-slack").mkdir()
    without_slack = write_config(tmp_path / "no-slack", redis_server.url, data_dir=str(tmp_path / "data"))
    server, http = await start_gateway(settings_from(with_slack))
    try:
        assert (await SlackGateway(server, http, settings_from(with_slack)).event(event()))[0] == 200
    finally:
        await http.close()
        await server.close()

    work(without_slack)
    [entry] = parked(redis_server, "slack")
    assert entry["reply"]["event"] == "received"
    doctor = intake(without_slack, "doctor")
    assert "[ok  ] slack outbound: 1 waiting: the slack channel is not switched on" in doctor.stdout
    work(without_slack)  # another worker without Slack leaves it where it is
    assert len(parked(redis_server, "slack")) == 1
    doctor = intake(with_slack, "doctor")
    assert "[FAIL] slack outbound: 1 reply(ies) can be sent now" in doctor.stdout

    work(with_slack)
    [post] = slack_api.called("chat.postMessage")
    assert post.args["channel"] == "D0TEACHER1"
    assert parked(redis_server, "slack") == []
    work(with_slack)
    assert len(slack_api.called("chat.postMessage")) == 1


async def test_replay_queues_parked_replies_for_a_team_whose_workspace_is_configured_again(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    north = {"T0NORTH": {"signing_secret": "north-secret-0a9b", "bot_token": "xoxb-north-token", "bot_user_id": "U0N"}}
    both = write_config(tmp_path, redis_server.url, channels={"slack": slack_config(slack_api, workspaces=north)})
    (tmp_path / "district-only").mkdir()
    district_only = write_config(tmp_path / "district-only", redis_server.url, data_dir=str(tmp_path / "data"),
                                 channels={"slack": slack_config(slack_api)})  # fmt: skip
    server, http = await start_gateway(settings_from(both))
    try:
        body = event()
        body["team_id"] = "T0NORTH"
        raw = json.dumps(body).encode()
        headers = signed_headers(raw, secret="north-secret-0a9b")
        async with http.post(str(server.make_url("/hooks/slack/events")), data=raw, headers=headers) as resp:
            assert resp.status == 200
    finally:
        await http.close()
        await server.close()

    work(district_only)  # the north workspace was taken out of the configuration: its reply waits
    assert len(parked(redis_server, "slack")) == 1
    doctor = intake(district_only, "doctor")
    assert "[FAIL] slack outbound: 1 waiting: no workspace configured for this team" in doctor.stdout

    replayed = intake(both, "replay")
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert "slack outbound: 1 reply(ies) queued again" in replayed.stdout
    assert parked(redis_server, "slack") == []
    work(both)
    [post] = slack_api.called("chat.postMessage")
    assert post.token == "xoxb-north-token"
