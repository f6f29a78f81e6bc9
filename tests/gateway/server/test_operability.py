"""Health, readiness, metrics, the OpenAPI document and the durability warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


async def test_healthz_answers_ok(gateway: Gateway) -> None:
    resp = await gateway.http.get(gateway.base + "/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}


async def test_readyz_reports_redis_and_spool_depth(gateway: Gateway, redis_server: RedisServer) -> None:
    up = await (await gateway.http.get(gateway.base + "/readyz")).json()
    assert up == {"status": "ok", "redis": "up", "spool_depth": 0, "accepting": True}
    redis_server.stop(kill=True)
    await gateway.post_form(form(), key="while-down")
    resp = await gateway.http.get(gateway.base + "/readyz")
    body = await resp.json()
    # Still ready: the spool takes messages, so a load balancer must keep sending them here.
    assert resp.status == 200
    assert body == {"status": "degraded", "redis": "down", "spool_depth": 1, "accepting": True}


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
