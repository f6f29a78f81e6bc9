"""`intake rules test` and `intake check-config` as an operator runs them (a new process each time)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage
from gateway.routing.router import Router
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer

RULES = """
calendars:
  office:
    hours: {mon-fri: "08:00-16:00"}
rules:
  - id: urgent-words
    when: {keywords: [lockout, "no internet in testing lab"]}
    then: {raise_priority: urgent}
    continue: true
  - id: texts-to-transport
    when: {channel: sms, keywords: [bus]}
    then: {queue: transportation}
  - id: evenings
    when: {outside_hours: office}
    then: {reply: after_hours, tags: [evening]}
"""


def setup(tmp_path: Path, url: str = "redis://127.0.0.1:1/0") -> tuple[Path, Path]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    return write_config(tmp_path, url, routing={"rules_file": str(rules)}), rules


def test_rules_test_with_text_prints_the_matches_in_order_with_reasons_and_the_route(tmp_path: Path) -> None:
    config, _ = setup(tmp_path)
    out = intake(
        config, "rules", "test", "--text", "LOCKOUT and the bus is late", "--channel", "sms", "--from", "+15551230000",
        "--at", "2026-12-01T10:00:00+00:00",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "1. urgent-words (line 6): keyword 'lockout' in subject or text" in lines
    assert "2. texts-to-transport (line 10): channel is 'sms'; keyword 'bus' in subject or text" in lines
    assert "  queue: transportation" in lines
    assert "  priority: urgent" in lines
    assert "  rule_ids: urgent-words, texts-to-transport" in lines
    assert "Redis is not reachable" in out.stdout  # closures unknown, and it says so


def test_rules_test_reads_a_message_file_and_answers_in_json(tmp_path: Path) -> None:
    config, _ = setup(tmp_path)
    message = tmp_path / "message.json"
    message.write_text(json.dumps({"channel": "email", "sender": "pat@example.org", "subject": "Wifi", "text": "hi",
                                   "received_at": "2026-12-05T12:00:00+00:00"}))  # fmt: skip
    out = intake(config, "rules", "test", str(message), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [m["rule"] for m in result["matches"]] == ["evenings"]
    assert result["matches"][0]["reasons"] == ["Sat 12:00 is outside the hours of office"]
    assert result["route"]["auto_reply_template"] == "after_hours"
    assert result["route"]["tags"] == ["email", "evening"]


def test_rules_test_without_a_message_says_what_to_give(tmp_path: Path) -> None:
    config, _ = setup(tmp_path)
    out = intake(config, "rules", "test")
    assert out.returncode == 2
    assert "give a MESSAGE.json, or --text" in out.stderr


def test_check_config_fails_on_a_bad_rules_file_naming_file_line_rule_and_field(tmp_path: Path) -> None:
    config, rules = setup(tmp_path)
    rules.write_text(textwrap.dedent(RULES).replace("keywords: [bus]", "keywords: [bus], text_regex: '(x+)+y'"))
    out = intake(config, "check-config")
    assert out.returncode == 2
    assert f"rules error: {rules}:11: rule 'texts-to-transport', field when.text_regex: unsafe regex" in out.stderr
    assert intake(config, "serve").returncode == 2  # a process does not start on rules it cannot apply


async def test_replay_shows_what_the_current_rules_would_change_for_stored_requests(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config, rules = setup(tmp_path, redis_server.url)
    settings = settings_from(config)
    router = Router(settings)
    client = async_client(settings)
    committer = Committer(client, settings)
    texts = ["The bus is late", "Printer is jammed", "No bus today"]
    for n, text in enumerate(texts):
        m = InboundMessage(id=new_id(), channel="sms", account="+15550001111", sender=f"+1555000222{n}", text=text)
        route = router.decide(m, now=m.received_at).route
        await committer.commit([Commitment(message=m, fingerprint=fingerprint("sms", "a", m.id, b""),
                                           conversation=m.id, route=route)])  # fmt: skip
    assert intake(config, "worker", "--burst").returncode == 0
    # One more that no worker has delivered yet: its deliver job still holds it.
    waiting = InboundMessage(id=new_id(), channel="sms", account="+15550001111", sender="+15550003333", text="bus?")
    await committer.commit([Commitment(message=waiting, fingerprint=fingerprint("sms", "a", waiting.id, b""),
                                       conversation=waiting.id, route=router.route(waiting))])  # fmt: skip
    await client.aclose()

    rules.write_text(textwrap.dedent(RULES).replace("queue: transportation", "queue: buses"))
    out = intake(config, "rules", "test", "--replay", "10", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["replayed"] == 4
    assert sorted(c["queue"]["now"] for c in result["changed"]) == ["buses", "buses", "buses"]
    assert all(c["queue"]["was"] == "transportation" for c in result["changed"])
    assert result["changed"][0]["request_id"] == waiting.id  # the newest first
    assert json.loads(intake(config, "rules", "test", "--replay", "1", "--json").stdout)["replayed"] == 1
    text_out = intake(config, "rules", "test", "--replay", "10").stdout
    assert "4 request(s) replayed" in text_out and "3 would change" in text_out
    assert "queue: transportation -> buses" in text_out
    assert "The bus is late" not in text_out  # what people wrote is not echoed
