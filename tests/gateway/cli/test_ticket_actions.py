"""`intake tickets reply|note|assign|set|merge|link|log-time`: the real command against a real store and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import keys
from gateway.incidents.match import build_criteria
from gateway.incidents.store import Incident, IncidentStore
from gateway.models import utcnow
from gateway.settings import Settings
from gateway.tickets import NewTicket, TicketStore
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


def timeline(redis_server: RedisServer, conv: str) -> list[dict[str, str]]:
    return [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]


@pytest.fixture
def tickets(settings: Settings, config_path: Path) -> Path:
    """Three tickets: two from Ana (one family), one from Ben."""
    store = TicketStore.from_settings(settings)
    for n, email in enumerate(("ana@example.org", "ana@example.org", "ben@example.org"), 1):
        new = NewTicket(conversation=f"conv-{n}", subject="Bus", body="The bus did not come.", channel="webform",
                        queue="transportation", category="transportation", requester_email=email)  # fmt: skip
        store.create_ticket(new, f"key-{n}")
    store.close()
    return config_path


async def test_a_reply_reaches_the_requester_and_a_note_does_not(
    gateway: Gateway, redis_server: RedisServer, config_path: Path, tmp_path: Path
) -> None:
    resp = await gateway.post_form(form(language="en"))
    conv = str((await resp.json())["request_id"])
    assert intake(config_path, "worker", "--burst").returncode == 0
    words = tmp_path / "reply.txt"
    words.write_text("A substitute driver comes tomorrow.")
    replied = intake(config_path, "tickets", "reply", "#1", "--body-file", str(words), "--actor", "ana", "--json")
    assert replied.returncode == 0, replied.stderr
    assert json.loads(replied.stdout) == {"ticket": 1, "comment": 1, "public": True}
    noted = intake(config_path, "tickets", "note", "1", "--body", "Depot says the driver is out sick.")
    assert noted.returncode == 0, noted.stderr
    assert noted.stdout.strip() == "#1: note added (internal: it is never sent)"
    assert intake(config_path, "worker", "--burst").returncode == 0
    told = [e["text"] for e in timeline(redis_server, conv) if e["event"] == "reply"]
    assert told[1:] == ["The help desk answered about your request #1: A substitute driver comes tomorrow."]
    shown = intake(config_path, "tickets", "show", "1").stdout
    assert "--- ana at" in shown and "(internal note)" in shown


def test_an_unknown_ticket_and_missing_words_are_refused(tickets: Path) -> None:
    unknown = intake(tickets, "tickets", "reply", "99", "--body", "Hello")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "Error: no ticket 99")
    neither = intake(tickets, "tickets", "note", "1")
    assert neither.returncode == 2 and "--body TEXT or --body-file FILE" in neither.stderr


def test_assign_to_a_person_then_back_to_balancing_with_no_group(tickets: Path) -> None:
    given = intake(tickets, "tickets", "assign", "1", "dana", "--json")
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout) == {"ticket": 1, "assignee": "dana", "group": None, "balanced": False}
    back = intake(tickets, "tickets", "assign", "1", "--nobody", "--actor", "dana")
    assert back.stdout.strip() == "#1: unassigned (no balancing group for it)"
    assert intake(tickets, "tickets", "assign", "1").returncode == 2
    audit = intake(tickets, "audit", "list", "--ticket", "1").stdout
    assert "assign" in audit and "dana" in audit


def test_set_changes_fields_and_names_the_allowed_values_of_a_wrong_one(tickets: Path) -> None:
    wrong = intake(tickets, "tickets", "set", "2", "--queue", "transport")
    assert wrong.returncode == 2
    assert "unknown queue 'transport'; expected one of:" in wrong.stderr and "transportation" in wrong.stderr
    done = intake(tickets, "tickets", "set", "2", "--priority", "urgent", "--category", "devices", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ticket": 2, "priority": "urgent", "category": "devices",
                                       "queue": "transportation"}  # fmt: skip


def test_merge_refuses_another_familys_ticket_and_merges_the_same_familys(tickets: Path) -> None:
    refused = intake(tickets, "tickets", "merge", "1", "--into", "3")
    assert (refused.returncode, refused.stderr.strip()) == (1, "Error: only tickets from the same family are merged")
    merged = intake(tickets, "tickets", "merge", "1", "--into", "2")
    assert (merged.returncode, merged.stdout.strip()) == (0, "#1 merged into #2")
    assert "merged into #2" in intake(tickets, "tickets", "show", "1").stdout


def test_link_refuses_an_unknown_incident_and_links_and_unlinks_a_known_one(
    tickets: Path, redis_server: RedisServer
) -> None:
    unknown = intake(tickets, "tickets", "link", "1", "--incident", "4")
    assert unknown.returncode == 1 and "no incident 4" in unknown.stderr
    incidents = IncidentStore(redis_server.client())
    at = utcnow()
    incidents.save(Incident(id=incidents.next_id(), title="Buses late", state="open", backend="builtin",
                            criteria=build_criteria(keywords=("bus",)), opened_at=at, updated_at=at))  # fmt: skip
    linked = intake(tickets, "tickets", "link", "1", "--incident", "1")
    assert (linked.returncode, linked.stdout.strip()) == (0, "#1 linked to incident 1")
    assert intake(tickets, "tickets", "link", "1", "--none").stdout.strip() == "#1 linked to no incident"


def test_log_time_takes_a_configured_work_type_and_the_actor_as_the_person(tickets: Path) -> None:
    wrong = intake(tickets, "tickets", "log-time", "1", "--minutes", "30", "--type", "fixing")
    assert wrong.returncode == 2 and "unknown work type 'fixing'; expected one of: break/fix, training" in wrong.stderr
    logged = intake(tickets, "tickets", "log-time", "1", "--minutes", "45", "--type", "break/fix", "--actor", "chen",
                    "--note", "Swapped the charger.", "--json")  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    assert json.loads(logged.stdout) == {"ticket": 1, "entry": 1, "person": "chen", "minutes": 45,
                                         "work_type": "break/fix"}  # fmt: skip
    assert "time: 45 min break/fix by chen" in intake(tickets, "tickets", "show", "1").stdout
