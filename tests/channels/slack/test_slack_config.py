"""Slack switches on from the environment alone, and a half-configured workspace stops the start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels import enabled_channels
from channels.slack.channel import SlackChannel
from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.store.blobs import FileBlobStore
from tests.channels.slack_support import SlackGateway, event, stored_requests
from tests.conftest import start_gateway
from tests.support.gateway import REPO, intake, write_config
from tests.support.redis_server import RedisServer
from tests.support.slack_api import BOT_TOKEN, SlackAPI, slack_config

SHIPPED = REPO / "config" / "gateway.yaml"


def test_the_shipped_config_turns_slack_on_when_both_variables_are_set(tmp_path: Path) -> None:
    env = {"SLACK_SIGNING_SECRET": "s3cr3t", "SLACK_BOT_TOKEN": "xoxb-1", "INTAKE_DATA_DIR": str(tmp_path)}
    settings = load_settings(SHIPPED, env=env)
    assert settings.channels.slack.enabled
    assert isinstance(enabled_channels(settings, FileBlobStore(tmp_path / "b"))["slack"], SlackChannel)
    off = load_settings(SHIPPED, env={"INTAKE_DATA_DIR": str(tmp_path)})
    assert not off.channels.slack.enabled
    assert "slack" not in enabled_channels(off, FileBlobStore(tmp_path / "b"))


@pytest.mark.parametrize("only", ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"])
def test_one_of_the_pair_alone_fails_at_start_naming_the_key_and_the_fix(only: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(SHIPPED, env={only: "x"})
    text = str(err.value)
    assert "gateway.yaml" in text and "channels.slack" in text
    assert "SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN" in text
    assert "x'" not in text  # never echo a secret


def test_a_workspace_without_its_token_fails_at_start(tmp_path: Path, redis_server: RedisServer) -> None:
    path = write_config(
        tmp_path, redis_server.url, channels={"slack": {"workspaces": {"T0ABC": {"signing_secret": "s"}}}}
    )
    with pytest.raises(ConfigError, match=r"channels.slack.workspaces.T0ABC needs both"):
        load_settings(path, env={})


async def test_with_slack_off_its_routes_answer_404(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, http = await start_gateway(settings)
    try:
        async with http.post(str(server.make_url("/hooks/slack/events")), data=b"{}") as resp:
            assert resp.status == 404
    finally:
        await http.close()
        await server.close()


async def test_the_generic_hook_route_is_not_a_way_around_the_slack_routes(
    slack_gateway: SlackGateway, redis_server: RedisServer
) -> None:
    raw = json.dumps(event()).encode()
    assert (await slack_gateway.post("/hooks/slack", raw))[0] == 404
    assert stored_requests(redis_server) == []


def test_doctor_checks_each_workspace_token_against_its_team(
    tmp_path: Path, redis_server: RedisServer, slack_api: SlackAPI
) -> None:
    conf = slack_config(slack_api)
    conf["workspaces"] = {"T0WRONG": {"signing_secret": "s", "bot_token": "xoxb-other-9"}}
    path = write_config(tmp_path, redis_server.url, channels={"slack": conf})
    out = intake(path, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["slack T0DISTRICT"]["ok"] is True
    assert checks["slack T0WRONG"] == {
        "name": "slack T0WRONG",
        "ok": False,
        "detail": "the bot token belongs to team T0OTHERDST, not T0WRONG",
    }
    assert [c.method for c in slack_api.calls] == ["auth.test", "auth.test"]
    assert BOT_TOKEN not in out.stdout + out.stderr
