"""X direct messages end to end: a ticket, replies sent as the district's account (OAuth 1.0a or an OAuth 2.0 user
token) to the stand-in, 429 and 5xx retried, a person who takes no messages recorded on the ticket, STATUS."""

from __future__ import annotations

from pathlib import Path

from channels.x.oauth import signature
from tests.channels.meta_support import show, tickets, work
from tests.channels.x_support import ROSA, USER_TOKEN, dm, x_config, x_gateway, x_settings
from tests.support.gateway import intake, write_config
from tests.support.redis_server import RedisServer
from tests.support.x_api import XStandIn


def test_oauth_signatures_match_xs_worked_example() -> None:
    # docs.x.com, "Creating a signature": the request, its parameters, the two secrets and the signature.
    params = {
        "include_entities": "true",
        "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
        "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
        "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "1318622958",
        "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "oauth_version": "1.0",
    }
    consumer_secret, token_secret = (
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )
    got = signature("POST", "https://api.twitter.com/1.1/statuses/update.json", params, consumer_secret, token_secret)
    assert got == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


async def test_a_direct_message_becomes_a_ticket_and_is_answered_by_direct_message(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    config = x_config(tmp_path, redis_server, x_api)
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("La página del menú del almuerzo no funciona desde ayer por la tarde")))[0] == 200
    work(config)
    [ticket] = tickets(config)
    assert (ticket["channel"], ticket["requester_name"], ticket["queue"]) == ("x", "Rosa Alvarez", "communications")
    assert ticket["language"] == "es"
    [reply] = x_api.sent
    assert (reply.participant, reply.auth) == (ROSA, "oauth1")  # signed as the account, checked by the stand-in
    assert reply.text.startswith("Recibimos su solicitud (caso #1).")
    assert x_api.refused == []


async def test_an_oauth2_user_token_works_instead_of_the_oauth1_pair(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    config = x_config(tmp_path, redis_server, x_api, access_token="", access_token_secret="", user_token=USER_TOKEN)
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("Bus question")))[0] == 200
    work(config)
    assert [d.auth for d in x_api.sent] == ["bearer"]


async def test_429_and_5xx_are_retried_and_the_reply_goes_once(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    x_api.failures = [429, 503]
    config = x_config(tmp_path, redis_server, x_api)
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("Bus question")))[0] == 200
    work(config)
    work(config)
    assert len(x_api.sent) == 1 and x_api.failures == []


async def test_a_person_who_takes_no_messages_is_recorded_on_the_ticket_not_retried(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    x_api.closed_to.add(ROSA)
    config = x_config(tmp_path, redis_server, x_api)
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("Bus question")))[0] == 200
    work(config)
    assert x_api.sent == []
    assert "was not delivered on X: X refused it (HTTP 403" in show(config, 1)
    assert redis_server.client().zcard("rq:failed:replies") == 0


async def test_status_is_answered_in_the_thread_without_a_ticket(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    config = x_config(tmp_path, redis_server, x_api)
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("The library laptop will not start")))[0] == 200
        work(config)
        assert intake(config, "tickets", "update", "1", "--status", "in_progress").returncode == 0
        work(config)
        assert (await gw.post(dm("status")))[0] == 200
    work(config)
    assert len(tickets(config)) == 1
    report = "Your open requests: #1 being worked on. Write here to add to your latest one."
    assert [d.text for d in x_api.sent].count(report) == 1


async def test_a_rule_on_the_channel_routes_x_requests_and_an_incident_update_reaches_them_by_direct_message(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: x-community\n    when:\n      channel: x\n"
                     "    then:\n      queue: social-media\n      tags: [x]\n")  # fmt: skip
    config = write_config(tmp_path, redis_server.url, channels={"x": x_settings(x_api)},
                          routing={"rules_file": str(rules)})  # fmt: skip
    opened = intake(config, "incident", "open", "--title", "Wi-Fi down at Lincoln", "--match", "wi-?fi")
    assert opened.returncode == 0, opened.stderr
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("The wifi at Lincoln is down again")))[0] == 200
    work(config)
    [ticket] = [t for t in tickets(config) if t["channel"] == "x"]  # beside the incident's own ticket
    assert (ticket["queue"], ticket["rule_ids"], ticket["parent_id"]) == ("social-media", ["x-community"], 1)
    update = ["incident", "update", "1", "--status", "resolved", "--message", "Fixed at 9:40."]
    assert intake(config, *update).returncode == 0
    work(config)
    assert len(x_api.sent) == 2 and "Fixed at 9:40." in x_api.sent[1].text
    assert {d.participant for d in x_api.sent} == {ROSA}
