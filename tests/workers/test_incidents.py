"""Incidents end to end: matching requests are linked to the parent ticket and told its status; updates reach them."""

from __future__ import annotations

import json
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend

FAR_FUTURE = "2999-01-01T00:00"


def timeline(redis_server: RedisServer, conv: str) -> list[dict[str, str]]:
    return [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]


def replies(redis_server: RedisServer, conv: str) -> list[dict[str, str]]:
    return [e for e in timeline(redis_server, conv) if e["event"] == "reply"]


def open_wifi_incident(config: Path, *extra: str) -> str:
    result = intake(config, "incident", "open", "--title", "Wi-Fi down at Lincoln High", "--match", "wi-?fi|internet",
                    "--school", "lhs", "--until", FAR_FUTURE, *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("incident 1 open (parent ticket #1)")
    return "1"


async def post(gateway: Gateway, **fields: object) -> str:
    resp = await gateway.post_form(form(**fields))
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["request_id"])


async def test_a_matching_request_is_linked_to_the_parent_and_told_the_current_status_at_once(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, settings: Settings
) -> None:
    open_wifi_incident(config_path)
    rid = await post(gateway, category="internet", message="El WiFi de la biblioteca no funciona", language="es")
    assert intake(config_path, "worker", "--burst").returncode == 0

    [ack] = replies(redis_server, rid)
    assert ack["reply_event"] == "incident_update"
    assert ack["text"].startswith("Sabemos de este problema: Wi-Fi down at Lincoln High. Estado: abierto.")
    store = BuiltinBackend.from_settings(settings)
    assert store.count() == 2
    assert store.get("2").parent_id == 1
    request = redis_server.client().hgetall(keys.request(rid))
    assert request[b"incident"] == b"incident:1"
    assert request[b"incident_evidence"] == b"match"
    assert "incident_linked" in [e["event"] for e in timeline(redis_server, rid)]


async def test_a_request_that_does_not_match_gets_the_generic_acknowledgement(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    open_wifi_incident(config_path)
    other_school = await post(gateway, school="wms", message="The wifi is down", language="en")
    other_topic = await post(gateway, message="The 7:10 bus did not come", language="en")
    assert intake(config_path, "worker", "--burst").returncode == 0
    for rid in (other_school, other_topic):
        assert [r["reply_event"] for r in replies(redis_server, rid)] == ["received"]
        assert b"incident" not in redis_server.client().hgetall(keys.request(rid))


async def test_a_route_that_names_an_incident_links_the_request_without_any_match(
    settings: Settings, redis_server: RedisServer, config_path: Path
) -> None:
    open_wifi_incident(config_path)
    m = InboundMessage(
        id=new_id(), channel="webform", account="district-web/demo", sender="pat@example.org",
        requester=Requester(email="pat@example.org"), text="Projector in room 12 is dark", language="en",
    )  # fmt: skip
    named = Commitment(message=m, fingerprint=fingerprint("webform", "a", m.id, b""), conversation=m.id,
                       route=Route(incident_id="1"))  # fmt: skip
    client = async_client(settings)
    await Committer(client, settings).commit([named])
    await client.aclose()
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert [r["reply_event"] for r in replies(redis_server, m.id)] == ["incident_update"]
    assert redis_server.client().hget(keys.request(m.id), "incident_evidence") == b"rule"


async def test_an_update_reaches_each_linked_requester_once_in_their_language_and_marks_their_ticket(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, settings: Settings
) -> None:
    open_wifi_incident(config_path)
    es = await post(gateway, message="No hay internet en la biblioteca", language="es")
    en = await post(gateway, message="Wifi keeps dropping in room 4", language="en", email=None, phone="5552013344")
    assert intake(config_path, "worker", "--burst").returncode == 0
    result = intake(config_path, "incident", "update", "1", "--status", "resolved", "--message", "Fixed at 9:40.")
    assert result.returncode == 0, result.stderr
    assert "telling 2 linked requester(s)" in result.stdout
    assert intake(config_path, "worker", "--burst").returncode == 0

    [_, es_update] = replies(redis_server, es)
    assert es_update["reply_event"] == "incident_update"
    assert es_update["text"].startswith("Sabemos de este problema: Wi-Fi down at Lincoln High. Estado: resuelto.")
    assert "Fixed at 9:40." in es_update["text"]
    [_, en_update] = replies(redis_server, en)
    assert en_update["text"].startswith("We know about this problem: Wi-Fi down at Lincoln High. Status: resolved.")
    emails = [json.loads(r)["reply"] for r in redis_server.client().lrange(keys.pending_outbound("email"), 0, -1)]
    assert [(e["event"], e["language"]) for e in emails] == [("incident_update", "es"), ("incident_update", "es")]
    assert emails[1]["subject"] == "Problema conocido: Wi-Fi down at Lincoln High [#2]"

    store = BuiltinBackend.from_settings(settings)
    assert [store.get(ref).status for ref in ("1", "2", "3")] == ["resolved", "resolved", "resolved"]
    assert redis_server.client().hget(keys.conversation(es), "status") == b"resolved"
    shown = intake(config_path, "incident", "show", "1")
    assert "update 1: resolved" in shown.stdout
    assert "fanned out 2/2, sent 3/3" in shown.stdout  # two status pages and one email


async def test_a_resolved_incident_links_no_new_requests(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    open_wifi_incident(config_path)
    assert intake(config_path, "incident", "update", "1", "--status", "resolved").returncode == 0
    rid = await post(gateway, message="wifi is down again", language="en")
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert [r["reply_event"] for r in replies(redis_server, rid)] == ["received"]


async def test_a_closed_incident_links_no_new_requests_and_cannot_be_updated(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    open_wifi_incident(config_path)
    assert intake(config_path, "incident", "close", "1").returncode == 0
    rid = await post(gateway, message="wifi is down", language="en")
    assert intake(config_path, "worker", "--burst").returncode == 0
    assert [r["reply_event"] for r in replies(redis_server, rid)] == ["received"]
    refused = intake(config_path, "incident", "update", "1", "--status", "in_progress")
    assert refused.returncode == 1
    assert "incident 1 is closed" in refused.stderr


def test_incident_commands_refuse_bad_criteria_and_unknown_ids(config_path: Path) -> None:
    catastrophic = intake(config_path, "incident", "open", "--title", "x", "--match", "(a+)+$")
    assert catastrophic.returncode == 2
    assert "repeats a group that itself repeats" in catastrophic.stderr
    invalid = intake(config_path, "incident", "open", "--title", "x", "--match", "wifi(")
    assert "not a valid regular expression" in invalid.stderr
    nothing = intake(config_path, "incident", "open", "--title", "x", "--school", "lhs")
    assert "needs --match, --keyword or --category" in nothing.stderr
    past = intake(config_path, "incident", "open", "--title", "x", "--match", "wifi", "--until", "2001-01-01T08:00")
    assert "has already passed" in past.stderr
    assert "no incident 9" in intake(config_path, "incident", "show", "9").stderr
    assert "no incident 9" in intake(config_path, "incident", "update", "9", "--status", "resolved").stderr
    listing = intake(config_path, "incident", "list", "--json")
    assert listing.returncode == 0
    assert json.loads(listing.stdout) == []


async def test_a_status_change_of_the_parent_ticket_in_the_backend_tells_every_child_once(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    open_wifi_incident(config_path)
    rid = await post(gateway, message="wifi down in the gym", language="en", email=None, phone="5552013344")
    assert intake(config_path, "worker", "--burst").returncode == 0
    changed = intake(config_path, "tickets", "update", "1", "--status", "in_progress", "--comment", "Crew on site.")
    assert changed.returncode == 0, changed.stderr
    assert intake(config_path, "worker", "--burst").returncode == 0
    events = Queue("events", connection=redis_server.client(), serializer=JSONSerializer)
    [job_id] = [j for j in events.finished_job_registry.get_job_ids() if j.startswith("event-")]
    job = events.fetch_job(job_id)
    assert job is not None
    events.enqueue_job(job)  # the backend's event delivered twice
    assert intake(config_path, "worker", "--burst").returncode == 0

    [_, update] = replies(redis_server, rid)
    assert update["reply_event"] == "incident_update"
    assert update["text"].startswith("We know about this problem: Wi-Fi down at Lincoln High. Status: being worked on.")
    assert "Crew on site." in update["text"]
    assert "update 1: in_progress" in intake(config_path, "incident", "show", "1").stdout


async def test_a_routing_rule_that_names_an_incident_links_its_requests(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: projectors-to-the-outage\n    when: {keywords: [projector]}\n    then: {incident: 1}\n"
    )
    config = write_config(tmp_path, redis_server.url, routing={"rules_file": str(rules)})
    open_wifi_incident(config)
    server, http = await start_gateway(settings_from(config))
    gw = Gateway(server, http, settings_from(config))
    try:
        named = await post(gw, school="wms", message="The projector in room 12 is dark", language="en")
        other = await post(gw, school="wms", message="The 7:10 bus did not come", language="en")
    finally:
        await http.close()
        await server.close()
    assert intake(config, "worker", "--burst").returncode == 0
    assert [r["reply_event"] for r in replies(redis_server, named)] == ["incident_update"]
    assert redis_server.client().hget(keys.request(named), "incident_evidence") == b"rule"
    assert [r["reply_event"] for r in replies(redis_server, other)] == ["received"]
