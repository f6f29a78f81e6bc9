"""Routing never logs what people wrote or who they are: a match, a timed-out regex, a reload, the worker."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

EMAIL = "marisol.q.okafor@example.net"
PHONE_RAW = "(555) 867-5309"
BODY = "Locked out again aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"

RULES = """
calendars:
  office: {hours: {mon-sun: "00:00-24:00"}}
sla_policies:
  standard: {calendar: office, urgent: {first_response: 30m}}
groups:
  techs: {members: [ana]}
defaults: {sla: standard}
rules:
  - id: slow
    when: {text_regex: '(a|aa)+$'}
    then: {tags: [slow]}
    continue: true
  - id: urgent
    when: {keywords: [locked out]}
    then: {raise_priority: urgent, assign: techs}
"""


async def test_routing_logs_none_of_the_personal_values(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    config = write_config(tmp_path, redis_server.url, routing={"rules_file": str(rules), "reload_interval_s": 0.1})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        assert (await gw.post_form(form(email=EMAIL, phone=PHONE_RAW, message=BODY))).status == 202
        rules.write_text(textwrap.dedent(RULES).replace("[locked out]", "[locked out"))  # a broken reload
        await eventually(lambda: "not reloaded" in caplog.text, "the broken rules file refused")
    finally:
        await http.close()
        await server.close()
    processes = tmp_path / "processes.log"
    rules.write_text(textwrap.dedent(RULES))
    assert intake(config, "worker", "--burst", log=processes).returncode == 0
    intake(config, "rules", "test", "--text", BODY, "--from", PHONE_RAW, log=tmp_path / "cli.log")
    logged = caplog.text + processes.read_text()
    assert "timed out" in caplog.text and "not reloaded" in caplog.text  # the paths under test did log
    for value in (EMAIL, PHONE_RAW, "5558675309", "Locked out again", "aaaaaaaaaa"):
        assert value not in logged
