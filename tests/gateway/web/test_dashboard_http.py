"""The dashboard over HTTP: who may see it, and its events following changes made in another web process and
in a worker, through Redis pub/sub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.tickets import TicketStore
from gateway.web.insight.access import COOKIE, session_cookie
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.web.sse import Stream, number
from tests.support.gateway import OPERATOR, OPERATOR_TOKEN, intake, settings_from, write_config
from tests.support.redis_server import RedisServer

HTML = {"Accept": "text/html"}


def _config(directory: Path, redis_url: str, store: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write_config(
        directory, redis_url, timezone="America/Chicago",
        server={"operator_token": OPERATOR_TOKEN, "port": 0},
        backends={"builtin": {"path": str(store)}},
    )  # fmt: skip


@pytest.fixture
async def two(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Gateway, Gateway, Path]]:
    """Two web processes' apps on one Redis and one ticket store, as behind a load balancer."""
    store = tmp_path / "tickets.sqlite3"
    configs = [_config(tmp_path / name, redis_server.url, store) for name in ("a", "b")]
    gateways = []
    for path in configs:
        settings = settings_from(path)
        server, http = await start_gateway(settings)
        gateways.append(Gateway(server, http, settings))
    yield gateways[0], gateways[1], configs[0]
    for g in gateways:
        await g.http.close()
        await g.server.close()


async def test_nothing_of_the_dashboard_answers_without_a_session(gateway: Gateway) -> None:
    for path in ("/dashboard", "/dashboard/events", "/reports", "/reports/volume.csv"):
        resp = await gateway.http.get(gateway.base + path, headers=HTML)
        assert resp.status == 401, path
    resp = await gateway.http.get(gateway.base + "/dashboard/events")
    assert resp.status == 401
    assert await resp.json() == {"error": "sign_in_required"}


async def test_an_agent_is_refused_and_a_supervisor_sees_the_dashboard(two: tuple[Gateway, Gateway, Path]) -> None:
    a, _, _ = two
    store = TicketStore.from_settings(a.settings)
    store.users.add("ana.lopez", "Ana López", "agent", departments=["it"])
    store.users.add("maria.chen", "María Chen", "supervisor")
    store.users.add("old.boss", "Old Boss", "supervisor")
    store.users.update("old.boss", disabled=True)
    store.close()
    key = a.settings.signing_key()
    as_agent = {"Cookie": f"{COOKIE}={session_cookie(key, 'ana.lopez')}", **HTML}
    assert (await a.http.get(a.base + "/dashboard", headers=as_agent)).status == 403
    as_disabled = {"Cookie": f"{COOKIE}={session_cookie(key, 'old.boss')}", **HTML}
    assert (await a.http.get(a.base + "/dashboard", headers=as_disabled)).status == 401
    forged = {"Cookie": f"{COOKIE}={session_cookie(b'not-the-key', 'maria.chen')}", **HTML}
    assert (await a.http.get(a.base + "/dashboard", headers=forged)).status == 401
    resp = await a.http.get(a.base + "/dashboard", headers={"Cookie": f"{COOKIE}={session_cookie(key, 'maria.chen')}"})
    assert resp.status == 200
    page = await resp.text()
    assert "Signed in as María Chen" in page
    assert 'id="incoming-empty"' in page
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_a_request_committed_by_one_web_process_shows_on_a_watcher_of_another(
    two: tuple[Gateway, Gateway, Path],
) -> None:
    a, b, _ = two
    async with b.http.get(b.base + "/dashboard/events", headers=OPERATOR, timeout=aiohttp.ClientTimeout()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(resp)
        await stream.until(lambda s: "incoming" in s)
        assert number(stream.sections["incoming"], "incoming-today-total") is None  # nothing yet
        assert (await a.post_form(form(category="transportation"))).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 1)
        assert "Channel: webform" in stream.sections["incoming"]
        assert "Department: transportation" in stream.sections["incoming"]
        assert (
            await a.post_form(form(message="A second request from another family.", email="b@example.org"))
        ).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 2)


async def test_a_duplicate_is_not_counted_as_incoming(two: tuple[Gateway, Gateway, Path]) -> None:
    a, b, _ = two
    async with b.http.get(b.base + "/dashboard/events", headers=OPERATOR, timeout=aiohttp.ClientTimeout()) as resp:
        stream = Stream(resp)
        assert (await a.post_form(form(), key="form-1")).status == 202
        assert (await a.post_form(form(), key="form-1")).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 1)
        assert (await a.post_form(form(message="Something else entirely.", email="c@example.org"))).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 2)


async def test_a_ticket_made_and_changed_by_workers_moves_the_open_counts(two: tuple[Gateway, Gateway, Path]) -> None:
    a, b, config = two
    async with b.http.get(b.base + "/dashboard/events", headers=OPERATOR, timeout=aiohttp.ClientTimeout()) as resp:
        stream = Stream(resp)
        await stream.until(lambda s: number(s.get("tickets", ""), "open-total") == 0)
        assert (await a.post_form(form(category="transportation"))).status == 202
        done = intake(config, "worker", "--burst")
        assert done.returncode == 0, done.stderr[-2000:]
        await stream.until(lambda s: number(s.get("tickets", ""), "open-total") == 1)
        assert number(stream.sections["tickets"], "unassigned-total") == 1
        updated = intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", "Fixed")
        assert updated.returncode == 0, updated.stderr[-2000:]
        done = intake(config, "worker", "--burst")
        assert done.returncode == 0, done.stderr[-2000:]
        await stream.until(lambda s: number(s.get("tickets", ""), "open-total") == 0)


async def test_the_reports_page_and_its_csv(two: tuple[Gateway, Gateway, Path]) -> None:
    a, _, config = two
    assert (await a.post_form(form(category="transportation"))).status == 202
    assert intake(config, "worker", "--burst").returncode == 0
    resp = await a.http.get(a.base + "/reports?report=volume&range=day&by=channel", headers=OPERATOR)
    assert resp.status == 200
    page = await resp.text()
    assert 'id="report-table"' in page
    assert "uPlot.iife.min.js" in page
    resp = await a.http.get(a.base + "/reports/volume.csv?range=day&by=queue", headers=OPERATOR)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    lines = (await resp.text()).splitlines()
    assert lines[0] == "period,transportation,total"
    assert lines[-1] == "total,1,1"
    bad = await a.http.get(a.base + "/reports/volume.csv?range=week&by=colour", headers=OPERATOR)
    assert bad.status == 400
    assert "channel, queue, category" in (await bad.json())["problem"]
    assert (await a.http.get(a.base + "/reports/nothing.csv", headers=OPERATOR)).status == 404
