"""Staff read times in the district's time zone: `intake tickets show`, `tickets list --csv/--json` and
`intake incident show` print them with the district's offset, never in UTC."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.tickets import TicketStore
from tests.gateway.tickets.conftest import ticket
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer

ZONE = ZoneInfo("America/Chicago")


def _store_config(tmp_path: Path, redis_url: str = "redis://127.0.0.1:1/0") -> tuple[Path, datetime]:
    """A Chicago district with one ticket that has a comment, logged time and a status change."""
    config = write_config(tmp_path, redis_url, timezone="America/Chicago")
    store = TicketStore.from_settings(settings_from(config))
    try:
        store.create_ticket(ticket(1), idempotency_key="k1")
        store.reply(1, "The driver has been told.", "maria", public=True)
        store.log_time(1, "maria", 15, "break/fix", actor="maria")
        store.set_status(1, "resolved", None, "maria")
        created = store.get(1).created_at
    finally:
        store.close()
    return config, created


def _chicago(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    # Chicago is never at UTC's offset, so a time printed in UTC fails here.
    assert parsed.utcoffset() == parsed.astimezone(ZONE).utcoffset(), text
    return parsed


def test_tickets_show_prints_every_time_in_the_districts_zone(tmp_path: Path) -> None:
    config, created = _store_config(tmp_path)
    shown = intake(config, "tickets", "show", "1")
    assert shown.returncode == 0, shown.stderr
    stamps = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", shown.stdout)
    assert len(stamps) >= 4  # created, the comment, the logged time, the history
    for stamp in stamps:
        _chicago(stamp)
    assert "+00:00" not in shown.stdout
    assert f"created: {created.astimezone(ZONE).isoformat(timespec='seconds')}" in shown.stdout


def test_tickets_list_csv_and_json_give_times_with_the_districts_offset(tmp_path: Path) -> None:
    config, created = _store_config(tmp_path)
    [row] = list(csv.DictReader(io.StringIO(intake(config, "tickets", "list", "--csv").stdout)))
    assert _chicago(row["created_at"]) == created
    assert _chicago(row["resolved_at"]) >= created
    listed = json.loads(intake(config, "tickets", "list", "--json").stdout)
    assert _chicago(listed["tickets"][0]["created_at"]) == created
    assert "+00:00" not in json.dumps(listed)


def test_incident_show_prints_its_updates_in_the_districts_zone(tmp_path: Path, redis_server: RedisServer) -> None:
    config, _ = _store_config(tmp_path, redis_server.url)
    opened = intake(config, "incident", "open", "--title", "Buses late", "--match", "bus", "--school", "lhs")
    assert opened.returncode == 0, opened.stderr
    assert intake(config, "incident", "update", "1", "--status", "in_progress").returncode == 0
    shown = intake(config, "incident", "show", "1")
    assert shown.returncode == 0, shown.stderr
    [at] = re.findall(r"update 1: in_progress at (\S+)", shown.stdout)
    _chicago(at)
    as_json = intake(config, "incident", "show", "1", "--json")
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    body = json.loads(as_json.stdout)
    for stamp in (body["opened_at"], body["updated_at"], body["updates"][0]["at"]):
        _chicago(stamp)
