"""A low rating (1 or 2) does what the routing rules say: reopen the ticket, or a note for a supervisor."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from gateway import keys
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.surveys.support import link_paths, parked, survey, work
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer

RULES = """
rules:
  - id: buses
    when: {keywords: [bus]}
    then: {queue: transportation, low_rating: reopen}
  - id: cafeteria
    when: {keywords: [cafeteria]}
    then: {queue: food, low_rating: notify}
"""


async def rated(tmp_path: Path, redis_server: RedisServer, message: str, rating: int) -> tuple[Path, str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    config = write_config(tmp_path, redis_server.url, surveys={"enabled": True}, routing={"rules_file": str(rules)})
    server, http = await start_gateway(settings_from(config))
    gw = Gateway(server, http, settings_from(config))
    try:
        resp = await gw.post_form(form(message=message, language="en"))
        conv = str((await resp.json())["request_id"])
        work(config)
        assert intake(config, "tickets", "update", "1", "--status", "resolved").returncode == 0
        work(config)
        [mail] = parked(redis_server, "email")
        async with gw.http.get(gw.base + link_paths(mail)[rating]) as page:
            assert page.status == 200
    finally:
        await http.close()
        await server.close()
    work(config)
    return config, conv


def ticket(config: Path) -> dict[str, object]:
    return dict(json.loads(intake(config, "tickets", "list", "--json").stdout)["tickets"][0])


async def test_a_rating_of_two_reopens_a_ticket_whose_rules_say_so_and_the_family_is_told(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config, conv = await rated(tmp_path, redis_server, "The bus did not come.", 2)
    assert ticket(config)["status"] == "open"
    shown = intake(config, "tickets", "show", "1").stdout
    assert "rated this request 2 out of 5: reopened, as the routing rules say" in shown
    assert redis_server.client().hget(keys.conversation(conv), "status") == b"open"
    assert [r.event for r in parked(redis_server, "email", "status_changed")] == ["status_changed"]
    assert survey(redis_server, conv)["low_rating_action"] == "reopen"


async def test_a_rating_of_one_notes_for_a_supervisor_and_why_none_was_mailed_when_no_smtp_is_set(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config, conv = await rated(tmp_path, redis_server, "The cafeteria card does not work.", 1)
    assert ticket(config)["status"] == "resolved"  # not reopened: only noted
    shown = intake(config, "tickets", "show", "1").stdout
    assert "rated this request 1 out of 5: a supervisor should follow up" in shown
    assert "no supervisor could be mailed: no SMTP server sends the gateway's mail" in shown
    assert survey(redis_server, conv)["low_rating_action"] == "notify"


async def test_a_good_rating_or_no_rule_does_nothing_more(tmp_path: Path, redis_server: RedisServer) -> None:
    config, conv = await rated(tmp_path, redis_server, "The bus did not come.", 4)
    assert ticket(config)["status"] == "resolved"
    assert "low_rating_action" not in survey(redis_server, conv)
    assert "out of 5: reopened" not in intake(config, "tickets", "show", "1").stdout
