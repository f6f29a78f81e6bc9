"""`intake tickets list`: pages with a total, the filters, search and an uncapped CSV, on both engines."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.tickets import TicketStore
from gateway.tickets.engine import sqlite_url
from tests.gateway.tickets.conftest import ticket
from tests.support.gateway import intake, write_config
from tests.support.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A gateway whose built-in store holds 120 tickets: every third in Spanish, the last about a router."""
    if request.param == "sqlite":
        url = ""
        store = TicketStore.open(sqlite_url(tmp_path / "data" / "tickets.sqlite3"))
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
        store = TicketStore.open(url)
    for n in range(1, 121):
        lang = "es" if n % 3 == 0 else "en"
        body = "El router del aula no funciona" if n == 120 else f"The bus did not come (day {n})"
        store.create_ticket(ticket(n, language=lang, body=body), idempotency_key=f"k{n}")
    store.set_status(5, "resolved", None, "maria")
    store.close()
    # No Redis is needed to read the store: the URL is never dialled.
    return write_config(tmp_path, "redis://127.0.0.1:1/0", backends={"builtin": {"database_url": url}})


def test_every_ticket_can_be_reached_a_page_at_a_time_and_filters_narrow_the_pages(config: Path) -> None:
    third = intake(config, "tickets", "list", "--page", "3", "--per-page", "50")
    assert third.returncode == 0, third.stderr
    lines = third.stdout.splitlines()
    assert lines[-1] == "page 3 of 3: 101-120 of 120 ticket(s)"
    assert lines[0].startswith("#20 ") and lines[-2].startswith("#1 ")
    first = intake(config, "tickets", "list").stdout.splitlines()
    assert first[-1] == "page 1 of 3: 1-50 of 120 ticket(s); next: --page 2"
    # Filters and search narrow the list; --json carries the total and the paging.
    listed = json.loads(intake(config, "tickets", "list", "--json", "--language", "es", "--status", "open").stdout)
    assert (listed["total"], listed["pages"], len(listed["tickets"])) == (40, 1, 40)
    assert {t["language"] for t in listed["tickets"]} == {"es"}
    found = json.loads(intake(config, "tickets", "list", "--json", "--search", "router aula").stdout)
    assert [t["id"] for t in found["tickets"]] == [120]
    done = json.loads(intake(config, "tickets", "list", "--json", "--status", "done").stdout)
    assert [t["id"] for t in done["tickets"]] == [5]


def test_csv_streams_every_ticket_the_filters_find_and_bad_values_are_named(config: Path) -> None:
    out = intake(config, "tickets", "list", "--csv", "--sort", "oldest")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [int(r["id"]) for r in rows] == list(range(1, 121))
    only_en = list(csv.DictReader(io.StringIO(intake(config, "tickets", "list", "--csv", "--language", "en").stdout)))
    assert len(only_en) == 80
    # A bad date or value is named.
    bad = intake(config, "tickets", "list", "--created-from", "last tuesday")
    assert bad.returncode == 2 and "--created-from" in bad.stderr and "2027-01-31" in bad.stderr
    assert intake(config, "tickets", "list", "--status", "lost").returncode == 2
    dated = json.loads(intake(config, "tickets", "list", "--json", "--created-from", "2000-01-01").stdout)
    assert dated["total"] == 120


def test_due_soon_is_the_dashboards_window_unless_the_command_names_its_own(tmp_path: Path) -> None:
    store = TicketStore.open(sqlite_url(tmp_path / "data" / "tickets.sqlite3"))
    now = datetime.now(UTC)
    for n, hours in ((1, 1), (2, 2), (3, 5)):
        store.create_ticket(ticket(n, first_response_due=now + timedelta(hours=hours)), idempotency_key=f"k{n}")
    store.close()
    config = write_config(tmp_path, "redis://127.0.0.1:1/0", dashboard={"due_soon_minutes": 90})

    def due_soon(*within: str) -> list[int]:
        out = intake(config, "tickets", "list", "--json", "--due", "soon", "--sort", "oldest", *within)
        assert out.returncode == 0, out.stderr
        return [t["id"] for t in json.loads(out.stdout)["tickets"]]

    assert due_soon() == [1]  # what the dashboard counts as due soon with this configuration
    assert due_soon("--due-within", "180") == [1, 2]


def test_a_search_in_more_tickets_than_the_line_is_paged_without_a_total_and_the_last_page_tells_it(
    tmp_path: Path,
) -> None:
    """backends.builtin.search_counted_up_to draws the line a million tickets need at 10,000; drawn at 5 here, a
    search in 59 tickets says "more than" until its last page, which gives the total, and the CSV holds every one."""
    store = TicketStore.open(sqlite_url(tmp_path / "data" / "tickets.sqlite3"))
    for n in range(1, 60):
        store.create_ticket(ticket(n, body=f"The bus did not come (day {n})"), idempotency_key=f"k{n}")
    store.create_ticket(ticket(60, subject="Printer", body="The printer is jammed again"), idempotency_key="k60")
    store.close()
    config = write_config(tmp_path, "redis://127.0.0.1:1/0", backends={"builtin": {"search_counted_up_to": 5}})
    first = intake(config, "tickets", "list", "--search", "bus", "--per-page", "25")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "page 1: 1-25 of more than 25 ticket(s); next: --page 2"
    listed = json.loads(intake(config, "tickets", "list", "--json", "--search", "bus", "--per-page", "25").stdout)
    assert (listed["total"], listed["pages"], listed["more"], len(listed["tickets"])) == (None, None, True, 25)
    last = intake(config, "tickets", "list", "--search", "bus", "--per-page", "25", "--page", "3").stdout.splitlines()
    assert last[-1] == "page 3 of 3: 51-59 of 59 ticket(s)"
    rows = list(csv.DictReader(io.StringIO(intake(config, "tickets", "list", "--csv", "--search", "bus").stdout)))
    assert len(rows) == 59
    # A rare word is still counted exactly, and the shipped line counts this whole search.
    assert intake(config, "tickets", "list", "--search", "printer").stdout.splitlines()[-1] == (
        "page 1 of 1: 1-1 of 1 ticket(s)"
    )
    shipped = write_config(tmp_path, "redis://127.0.0.1:1/0")
    assert intake(shipped, "tickets", "list", "--search", "bus", "--per-page", "25").stdout.splitlines()[-1] == (
        "page 1 of 3: 1-25 of 59 ticket(s); next: --page 2"
    )
