"""The dashboard over HTTP: who may see it, and its events following changes made in another web process and
in a worker, through Redis pub/sub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.tickets import TicketStore
from tests.conftest import Gateway, form, start_gateway
from tests.gateway.web.sse import Stream, number
from tests.support.gateway import OPERATOR_TOKEN, intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.staff import add_staff, browser_session, session_headers, sign_in, signed_in_cookie

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


async def boss(gw: Gateway) -> dict[str, str]:
    """A supervisor's session (the account made the first time), as the headers of a request."""
    store = TicketStore.from_settings(gw.settings)
    try:
        known = any(u.username == "boss" for u in store.users.all())
    finally:
        store.close()
    if not known:
        add_staff(gw.settings, "boss", "supervisor", name="Supervisor")
    return await session_headers(gw.settings, "boss")


async def test_nothing_of_the_dashboard_answers_without_a_session(gateway: Gateway) -> None:
    for path in ("/dashboard", "/reports"):
        resp = await gateway.http.get(gateway.base + path, headers=HTML, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, f"/signin?next={path}"), path
    for path in ("/dashboard/events", "/reports/volume.csv"):
        resp = await gateway.http.get(gateway.base + path)
        assert resp.status == 401, path
        assert (await resp.json())["error"] == "unauthorized"


async def test_an_agent_is_refused_and_a_supervisor_sees_the_dashboard(two: tuple[Gateway, Gateway, Path]) -> None:
    a, _, _ = two
    add_staff(a.settings, "ana.lopez", "agent", departments=["it"], name="Ana López")
    add_staff(a.settings, "maria.chen", "supervisor", name="María Chen")
    add_staff(a.settings, "old.boss", "supervisor", name="Old Boss")
    store = TicketStore.from_settings(a.settings)
    store.users.update("old.boss", disabled=True)
    store.close()
    name, agent = await signed_in_cookie(a.base, "ana.lopez")
    assert (await a.http.get(a.base + "/dashboard", headers={"Cookie": f"{name}={agent}", **HTML})).status == 403
    async with browser_session() as http:
        assert (await sign_in(http, a.base, "old.boss")).status != 303  # a disabled account gets no session
    forged = {"Cookie": f"{name}=forged-{agent[:10]}", **HTML}
    assert (await a.http.get(a.base + "/dashboard", headers=forged, allow_redirects=False)).status == 303
    name, supervisor = await signed_in_cookie(a.base, "maria.chen")
    resp = await a.http.get(a.base + "/dashboard", headers={"Cookie": f"{name}={supervisor}"})
    assert resp.status == 200
    page = await resp.text()
    assert "Signed in as María Chen" in page
    assert 'id="incoming-empty"' in page
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_a_request_committed_by_one_web_process_shows_on_a_watcher_of_another(
    two: tuple[Gateway, Gateway, Path],
) -> None:
    a, b, _ = two
    async with b.http.get(b.base + "/dashboard/events", headers=await boss(b), timeout=aiohttp.ClientTimeout()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(resp)
        await stream.until(lambda s: "incoming" in s)
        assert number(stream.sections["incoming"], "incoming-today-total") is None  # nothing yet
        assert (await a.post_form(form(category="transportation"))).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 1)
        assert "Channel: Web form" in stream.sections["incoming"]
        assert "Department: Transportation" in stream.sections["incoming"]
        assert (
            await a.post_form(form(message="A second request from another family.", email="b@example.org"))
        ).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 2)


async def test_a_duplicate_is_not_counted_as_incoming(two: tuple[Gateway, Gateway, Path]) -> None:
    a, b, _ = two
    async with b.http.get(b.base + "/dashboard/events", headers=await boss(b), timeout=aiohttp.ClientTimeout()) as resp:
        stream = Stream(resp)
        assert (await a.post_form(form(), key="form-1")).status == 202
        assert (await a.post_form(form(), key="form-1")).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 1)
        assert (await a.post_form(form(message="Something else entirely.", email="c@example.org"))).status == 202
        await stream.until(lambda s: number(s.get("incoming", ""), "incoming-today-total") == 2)


async def test_a_ticket_made_and_changed_by_workers_moves_the_open_counts(two: tuple[Gateway, Gateway, Path]) -> None:
    a, b, config = two
    async with b.http.get(b.base + "/dashboard/events", headers=await boss(b), timeout=aiohttp.ClientTimeout()) as resp:
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
    resp = await a.http.get(a.base + "/reports?report=volume&range=day&by=channel", headers=await boss(a))
    assert resp.status == 200
    page = await resp.text()
    assert 'id="report-table"' in page
    assert "uPlot.iife.min.js" in page
    resp = await a.http.get(a.base + "/reports/volume.csv?range=day&by=queue", headers=await boss(a))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    lines = (await resp.text()).splitlines()
    assert lines[0] == "period,transportation,total"
    assert lines[-1] == "total,1,1"
    bad = await a.http.get(a.base + "/reports/volume.csv?range=week&by=colour", headers=await boss(a))
    assert bad.status == 400
    assert "channel, queue, category" in (await bad.json())["problem"]
    assert (await a.http.get(a.base + "/reports/nothing.csv", headers=await boss(a))).status == 404
