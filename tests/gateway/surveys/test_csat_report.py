"""`intake report csat`: surveys sent, answered and satisfied against the goal, checked against hand counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.conftest import Gateway, form
from tests.gateway.surveys.support import link_paths, parked, work
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


async def test_the_csat_report_counts_by_language_and_by_period_against_the_goal(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    languages = ["en", "es", "es", "vi"]
    for i, language in enumerate(languages):
        resp = await gateway.post_form(form(language=language, email=f"family{i}@example.org"))
        assert resp.status == 202
    work(config_path)
    for ticket in range(1, 5):
        assert intake(config_path, "tickets", "update", str(ticket), "--status", "resolved").returncode == 0
    work(config_path)
    surveys = {r.recipient: link_paths(r) for r in parked(redis_server, "email")}
    # Hand-counted: en rates 5, the first es family 2, the second never answers, vi rates 4.
    for recipient, rating in (("family0@example.org", 5), ("family1@example.org", 2), ("family3@example.org", 4)):
        async with gateway.http.get(gateway.base + surveys[recipient][rating]) as resp:
            assert resp.status == 200

    by_language = intake(config_path, "report", "csat", "--by", "language", "--csv")
    assert by_language.returncode == 0, by_language.stderr
    assert list(csv.reader(io.StringIO(by_language.stdout))) == [
        ["language", "surveys", "answered", "response_rate_pct", "average_rating", "satisfied_pct", "goal_pct",
         "vs_goal"],
        ["en", "1", "1", "100.0", "5.00", "100.0", "94.0", "6.0"],
        ["es", "2", "1", "50.0", "2.00", "0.0", "94.0", "-94.0"],
        ["vi", "1", "1", "100.0", "4.00", "100.0", "94.0", "6.0"],
        ["total", "4", "3", "75.0", "3.67", "66.7", "94.0", "-27.3"],
    ]  # fmt: skip

    by_hour = intake(config_path, "report", "csat", "--by", "period", "--range", "day", "--csv")
    rows = list(csv.reader(io.StringIO(by_hour.stdout)))
    assert len(rows) == 1 + 24 + 1  # the header, every hour of the day (the trend), the total
    busy = [row for row in rows[1:-1] if row[1] != "0"]
    assert sum(int(row[1]) for row in busy) == 4 and sum(int(row[2]) for row in busy) == 3
    assert rows[-1][1:] == ["4", "3", "75.0", "3.67", "66.7", "94.0", "-27.3"]
    assert all(row[2:] == ["0", "", "", "", "94.0", ""] for row in rows[1:-1] if row[1] == "0")

    table = intake(config_path, "report", "csat")  # by department, as a table
    assert table.returncode == 0 and table.stdout.startswith("csat ") and "goal 94%" in table.stdout
    wrong = intake(config_path, "report", "csat", "--by", "weather")
    assert wrong.returncode == 2 and "csat is reported by department, channel" in wrong.stderr


async def test_the_dashboard_shows_response_rate_and_satisfaction_by_dimension_and_day_against_the_goal(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    from tests.support.staff import add_staff, session_headers

    for i, language in enumerate(["en", "es"]):
        assert (await gateway.post_form(form(language=language, email=f"family{i}@example.org"))).status == 202
    work(config_path)
    for ticket in ("1", "2"):
        assert intake(config_path, "tickets", "update", ticket, "--status", "resolved").returncode == 0
    work(config_path)
    survey_of = {r.recipient: link_paths(r) for r in parked(redis_server, "email")}
    async with gateway.http.get(gateway.base + survey_of["family0@example.org"][3]) as resp:
        assert resp.status == 200
    add_staff(gateway.settings, "boss", "supervisor", name="Supervisor")
    headers = {**(await session_headers(gateway.settings, "boss")), "Accept": "text/html"}
    async with gateway.http.get(gateway.base + "/dashboard", headers=headers) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "Family surveys sent in the last 7 days" in page and "goal 94.0%" in page
    assert '<td class="num" id="surveys-total">2</td><td class="num" id="answered-total">1</td>' in page
    assert '<td class="num" id="satisfied-total">0.0%</td>' in page  # a 3 is not satisfied
    assert 'id="vs-goal-total">-94.0</td>' in page
    # Said as staff read them: a language's name, the department's and the school's names from the configuration.
    assert 'Language: Spanish</th><td class="num">1</td><td class="num">0</td>' in page
    assert 'Department: Transportation</th><td class="num">2</td>' in page
    assert 'School: Lincoln High School</th><td class="num">2</td>' in page
    assert "Language: es<" not in page and "Department: transportation<" not in page
    assert "Satisfied families per day, against the goal of 94.0%" in page
