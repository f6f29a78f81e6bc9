"""The reports as files: `intake report ... --csv` (the real command, a new process) and the CSV downloads of
/reports, over a week, a school term and a school year. The week is the one counted by hand in test_reports.py
(America/Chicago, the shipped calendar and terms), with time logged on it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.tickets import NewTicket, TicketStore
from tests.conftest import Gateway, start_gateway
from tests.gateway.reports.test_reports import backdate, local
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, session_headers

WEEK = [
    ("sms", "transportation", "es", "lhs", "2027-02-01 16:00", "2027-02-01 17:00", "2027-02-02 07:00"),
    ("webform", "it", "en", "jes", "2027-02-05 16:00", "2027-02-08 08:00", "2027-02-08 12:00"),
    ("email", "general", "en", "lhs", "2027-02-03 10:00", "2027-02-03 10:45", None),
    ("sms", "transportation", "es", "lhs", "2027-02-06 09:00", "2027-02-08 06:30", None),
    ("sms", "transportation", "vi", "jes", "2027-02-04 08:00", None, None),
    ("sms", "transportation", "es", "lhs", "2027-02-08 09:00", None, None),  # the next week
]
WEEK_ARGS = ("--range", "week", "--date", "2027-02-03", "--csv")


@pytest.fixture
def config(tmp_path: Path, redis_server: RedisServer) -> Iterator[Path]:
    path = write_config(
        tmp_path, redis_server.url, timezone="America/Chicago",
        backends={"builtin": {"path": str(tmp_path / "tickets.sqlite3")}},
    )  # fmt: skip
    store = TicketStore.from_settings(settings_from(path))
    try:
        for n, (channel, queue, language, school, made, first, resolved) in enumerate(WEEK, 1):
            new = NewTicket(conversation=f"conv-{n}", subject=f"Request {n}", body="Help, please.", channel=channel,
                            queue=queue, language=language, school=school)  # fmt: skip
            tid = store.create_ticket(new, idempotency_key=f"req-{n}")
            backdate(store, tid, made, first, resolved)
        store.log_time(1, "ana.lopez", 45, "break/fix", at=local("2027-02-02 10:00"))
        store.log_time(1, "ana.lopez", 30, "training", at=local("2027-02-03 10:00"))
        store.log_time(2, "ben.okafor", 15, "break/fix", at=local("2027-02-04 10:00"))
        store.log_time(2, "ben.okafor", 60, "curriculum support", at=local("2027-02-09 10:00"))  # the next week
    finally:
        store.close()
    yield path


@pytest.fixture
async def gw(config: Path) -> AsyncIterator[Gateway]:
    settings = settings_from(config)
    add_staff(settings, "boss", "supervisor", name="Supervisor")
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


def report(config: Path, *args: str) -> list[list[str]]:
    done = intake(config, "report", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    return list(csv.reader(io.StringIO(done.stdout)))


def test_intake_report_volume_csv_counts_each_day_of_the_week(config: Path) -> None:
    assert report(config, "volume", *WEEK_ARGS) == [
        ["period", "sms", "email", "webform", "total"],
        ["2027-02-01", "1", "0", "0", "1"],
        ["2027-02-02", "0", "0", "0", "0"],
        ["2027-02-03", "0", "1", "0", "1"],
        ["2027-02-04", "1", "0", "0", "1"],
        ["2027-02-05", "0", "0", "1", "1"],
        ["2027-02-06", "1", "0", "0", "1"],
        ["2027-02-07", "0", "0", "0", "0"],
        ["total", "3", "1", "1", "5"],
    ]


def test_intake_report_response_csv_gives_business_minutes_by_department(config: Path) -> None:
    assert report(config, "response", *WEEK_ARGS, "--by", "department") == [
        ["queue", "tickets", "answered", "first_response_median", "first_response_p90", "resolved",
         "resolution_median", "resolution_p90"],
        ["general", "1", "1", "45.0", "45.0", "0", "", ""],
        ["it", "1", "1", "90.0", "90.0", "1", "330.0", "330.0"],
        ["transportation", "3", "2", "45.0", "60.0", "1", "150.0", "150.0"],
    ]  # fmt: skip


def test_intake_report_time_spent_csv_adds_up_by_work_type_and_by_person(config: Path) -> None:
    assert report(config, "time-spent", *WEEK_ARGS) == [
        ["work_type", "minutes", "hours", "entries", "share"],
        ["break/fix", "60", "1.0", "2", "66.7"],
        ["training", "30", "0.5", "1", "33.3"],
        ["total", "90", "1.5", "3", "100.0"],
    ]
    by_person = report(config, "time-spent", *WEEK_ARGS, "--by", "person")
    assert [r[:2] for r in by_person] == [["person", "minutes"], ["ana.lopez", "75"], ["ben.okafor", "15"],
                                          ["total", "90"]]  # fmt: skip


def test_intake_report_equity_csv_compares_languages_channels_and_schools(config: Path) -> None:
    rows = report(config, "equity", *WEEK_ARGS)
    assert rows[0][:4] == ["dimension", "value", "tickets", "answered"]
    assert [r[:5] for r in rows[1:]] == [
        ["language", "en", "2", "2", "67.5"],
        ["language", "es", "2", "2", "45.0"],
        ["language", "vi", "1", "0", ""],
        ["channel", "email", "1", "1", "45.0"],
        ["channel", "sms", "3", "2", "45.0"],
        ["channel", "webform", "1", "1", "90.0"],
        ["school", "jes", "2", "1", "90.0"],
        ["school", "lhs", "3", "3", "45.0"],
    ]


def test_intake_report_over_a_school_term_is_by_week_and_over_a_year_by_month(config: Path) -> None:
    term = report(config, "volume", "--term", "Spring 2027", "--by", "queue", "--csv")
    periods = [r[0] for r in term[1:-1]]
    assert periods[0] == "2027-01-04"  # the term's first day, then a row a week
    assert len(periods) == 22  # 4 January to 4 June
    by_week = {r[0]: r[-1] for r in term[1:]}
    assert (by_week["2027-02-01"], by_week["2027-02-08"], by_week["total"]) == ("5", "1", "6")
    year = report(config, "volume", "--range", "year", "--date", "2027-02-03", "--csv")
    assert [r[0] for r in year[1:]] == [*(f"2026-{m:02d}" for m in range(7, 13)),
                                        *(f"2027-{m:02d}" for m in range(1, 7)), "total"]  # fmt: skip
    by_month = {r[0]: r[-1] for r in year[1:]}
    assert (by_month["2027-01"], by_month["2027-02"], by_month["total"]) == ("0", "6", "6")
    fall = report(config, "volume", "--range", "term", "--date", "2027-02-03", "--csv")
    assert fall[1][0] == "2027-01-04"  # the term the day falls in


def test_intake_report_refuses_a_term_that_is_not_configured(config: Path) -> None:
    done = intake(config, "report", "volume", "--term", "Summer 2027", "--csv")
    assert done.returncode == 2
    assert "no term named 'Summer 2027'; the terms are: Fall 2026, Spring 2027" in done.stderr
    done = intake(config, "report", "volume", "--range", "term", "--date", "2027-07-01")
    assert done.returncode == 2
    assert "2027-07-01 is in no term" in done.stderr


async def csv_rows(gw: Gateway, path: str) -> list[list[str]]:
    resp = await gw.http.get(gw.base + path, headers=await session_headers(gw.settings, "boss"))
    assert resp.status == 200, path
    assert resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(await resp.text())))


async def test_the_time_spent_and_equity_downloads_match_the_command_line(gw: Gateway, config: Path) -> None:
    query = "range=week&date=2027-02-03"
    assert await csv_rows(gw, f"/reports/time-spent.csv?{query}&by=person") == report(
        config, "time-spent", *WEEK_ARGS, "--by", "person"
    )
    equity = await csv_rows(gw, f"/reports/equity.csv?{query}")
    assert equity == report(config, "equity", *WEEK_ARGS)
    assert ["language", "vi", "1", "0", "", "", "0", "", ""] in equity
    resp = await gw.http.get(
        gw.base + f"/reports/equity.csv?{query}", headers=await session_headers(gw.settings, "boss")
    )
    assert resp.headers["Content-Disposition"] == 'attachment; filename="equity-2027-02-01-2027-02-07.csv"'


async def test_the_downloads_cover_a_school_term_and_a_school_year(gw: Gateway) -> None:
    term = await csv_rows(gw, "/reports/volume.csv?range=term&term=Spring%202027&by=queue")
    assert term[1][0] == "2027-01-04"
    assert {r[0]: r[-1] for r in term[1:]}["total"] == "6"
    year = await csv_rows(gw, "/reports/volume.csv?range=year&date=2027-02-03")
    assert (year[1][0], year[-2][0], year[-1]) == ("2026-07", "2027-06", ["total", "4", "1", "1", "6"])
    bad = await gw.http.get(
        gw.base + "/reports/volume.csv?range=term&term=Summer", headers=await session_headers(gw.settings, "boss")
    )
    assert bad.status == 400
    assert "no term named 'Summer'" in (await bad.json())["problem"]
