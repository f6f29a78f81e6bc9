"""Health, readiness, metrics, the OpenAPI document and the durability warning."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway import keys
from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import OPERATOR, OPERATOR_TOKEN, TOKEN, intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually


async def test_healthz_answers_ok(gateway: Gateway) -> None:
    resp = await gateway.http.get(gateway.base + "/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}


@pytest.fixture
async def operated(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Gateway]:
    """A gateway with an operator token and a mailbox (nobody polls it, so it reports a problem)."""
    imap = {"host": "127.0.0.1", "port": 9, "security": "none"}
    email = {"mailboxes": {"help-desk-east": {"address": "help@district.example.org", "imap": imap}}}
    config = write_config(
        tmp_path, redis_server.url, server={"operator_token": OPERATOR_TOKEN}, channels={"email": email}
    )
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def test_readyz_gives_a_load_balancer_a_bare_answer(operated: Gateway, redis_server: RedisServer) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Bearer {TOKEN}"}):
        resp = await operated.http.get(operated.base + "/readyz", headers=headers)
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}
    redis_server.stop(kill=True)
    resp = await operated.http.get(operated.base + "/readyz")
    # Still ready: the spool takes messages, so a load balancer must keep sending them here.
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_detail_names_mailboxes_only_to_the_operator_token(
    operated: Gateway, redis_server: RedisServer
) -> None:
    anyone = await (await operated.http.get(operated.base + "/readyz")).text()
    assert "help-desk-east" not in anyone
    detail = await (await operated.http.get(operated.base + "/readyz", headers=OPERATOR)).json()
    assert detail["redis"] == "up" and detail["spool_depth"] == 0 and detail["accepting"] is True
    assert detail["mailboxes"]["help-desk-east"]["ok"] is False
    assert detail["status"] == "degraded"
    redis_server.stop(kill=True)
    await operated.post_form(form(), key="while-down")
    resp = await operated.http.get(operated.base + "/readyz", headers=OPERATOR)
    assert resp.status == 200
    assert await resp.json() == {"status": "degraded", "redis": "down", "spool_depth": 1, "accepting": True}


async def test_without_an_operator_token_configured_readyz_shows_no_detail(gateway: Gateway) -> None:
    resp = await gateway.http.get(gateway.base + "/readyz", headers={"Authorization": "Bearer "})
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_metrics_take_the_operator_token_once_one_is_set(operated: Gateway) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Bearer {TOKEN}"}):
        refused = await operated.http.get(operated.base + "/metrics", headers=headers)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "intake_" not in await refused.text()
    ok = await operated.http.get(operated.base + "/metrics", headers=OPERATOR)
    assert ok.status == 200
    assert 'intake_mailbox_healthy{mailbox="help-desk-east"} 0.0' in await ok.text()


def _overdue(member: str) -> dict[str, float]:
    return {f"first_response|general|urgent|{member}": time.time() - 3600}


async def test_a_metrics_scrape_writes_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    r = redis_server.client()
    r.zadd(keys.SLA_DUE, _overdue("canary"))
    config = write_config(tmp_path, redis_server.url, routing={"sla_sweep_interval_s": 3600})
    gw = Gateway(*await start_gateway(settings_from(config)), settings_from(config))
    try:
        # The process's first sweep, at start, counts the clock that was overdue then; the next is an hour away.
        await eventually(lambda: r.zcard(keys.SLA_DUE) == 0, "the sweep at start counts the overdue clock")
        r.zadd(keys.SLA_DUE, _overdue("after-start"))
        for _ in range(3):
            assert (await gw.http.get(gw.base + "/metrics")).status == 200
        assert r.zcard(keys.SLA_DUE) == 1
        assert r.hgetall(keys.SLA_BREACHES) == {b"general|urgent|first_response": b"1"}
    finally:
        await gw.http.close()
        await gw.server.close()


async def test_two_web_processes_sweeping_count_each_overdue_clock_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url, routing={"sla_sweep_interval_s": 0.05})
    settings = settings_from(config)
    gateways = [Gateway(*await start_gateway(settings), settings) for _ in range(2)]
    r = redis_server.client()
    try:
        for batch in range(5):  # clocks falling due while both processes sweep
            r.zadd(keys.SLA_DUE, {k: v for i in range(20) for k, v in _overdue(f"{batch}-{i}").items()})
            await eventually(lambda: r.zcard(keys.SLA_DUE) == 0, "the sweeps count every overdue clock")
        assert r.hgetall(keys.SLA_BREACHES) == {b"general|urgent|first_response": b"100"}
    finally:
        for gw in gateways:
            await gw.http.close()
            await gw.server.close()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"metric {name} not exported")


async def test_metrics_count_received_committed_duplicates_and_spooled_per_channel(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    await gateway.post_form(form(), key="m1")
    await gateway.post_form(form(), key="m1")
    await gateway.post_form(form(), key="m2")
    redis_server.stop(kill=True)
    await gateway.post_form(form(), key="m3")
    text = await (await gateway.http.get(gateway.base + "/metrics")).text()
    assert metric(text, 'intake_received_total{channel="webform"}') == 4
    assert metric(text, 'intake_committed_total{channel="webform"}') == 2
    assert metric(text, 'intake_duplicates_total{channel="webform"}') == 1
    assert metric(text, 'intake_spooled_total{channel="webform"}') == 1
    assert metric(text, "intake_spool_depth") == 1


async def test_openapi_describes_the_intake_with_the_configured_choices(gateway: Gateway) -> None:
    doc = await (await gateway.http.get(gateway.base + "/openapi.json")).json()
    post = doc["paths"]["/hooks/webform"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "413", "422", "503"}
    schema = doc["components"]["schemas"]["Submission"]
    assert schema["properties"]["category"]["enum"] == [c.id for c in gateway.settings.channels.webform.categories]
    assert schema["required"] == ["category", "message"]


async def test_a_redis_that_cannot_keep_acknowledged_messages_is_announced_loudly(
    settings: Settings, redis_server: RedisServer, caplog: pytest.LogCaptureFixture, config_path: Path
) -> None:
    redis_server.client().config_set("appendfsync", "everysec")
    with caplog.at_level(logging.WARNING, logger="intake.redis"):
        server, http = await start_gateway(settings)
        await http.close()
        await server.close()
    assert any("CANNOT KEEP THE DURABILITY PROMISE" in r.getMessage() for r in caplog.records)
    doctor = intake(config_path, "doctor")
    assert doctor.returncode == 1
    assert "[FAIL] durability: appendfsync is 'everysec'" in doctor.stdout


def test_doctor_is_healthy_on_a_durable_redis(config_path: Path, redis_server: RedisServer) -> None:
    doctor = intake(config_path, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "[ok  ] durability: appendonly=yes appendfsync=always" in doctor.stdout


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB filesystem of the test's own (tmpfs) for the data directory, so the test can fill it."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


async def test_readyz_is_503_when_redis_is_down_and_the_spool_has_no_room(
    tmp_path: Path, redis_server: RedisServer, small_disk: Path
) -> None:
    config = write_config(tmp_path, redis_server.url, data_dir=str(small_disk / "data"))
    settings = settings_from(config)
    gw = Gateway(*await start_gateway(settings), settings)
    filler = small_disk / "filler"
    try:
        redis_server.stop(kill=True)
        assert (await gw.http.get(gw.base + "/readyz")).status == 200  # the spool has room
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        resp = await gw.http.get(gw.base + "/readyz")
        assert resp.status == 503
        assert await resp.json() == {"status": "unavailable"}
        filler.unlink()
        assert (await gw.http.get(gw.base + "/readyz")).status == 200
    finally:
        await gw.http.close()
        await gw.server.close()
