"""End to end: a web form post is resolved against the directory before its commit, and answered in its language."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway import keys
from tests.conftest import Gateway, start_gateway
from tests.directory_fixtures import csv_settings, ldap_settings
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.slapd import Slapd

VIETNAMESE = "Xe buýt số 12 không đến sáng nay và con gái tôi vẫn đang chờ ở góc đường Lincoln"


def post(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"category": "transportation", "message": VIETNAMESE}
    body.update(fields)
    return body


async def gateway_with(tmp_path: Path, redis_server: RedisServer, identity: dict[str, Any]) -> tuple[Gateway, Path]:
    config = write_config(tmp_path, redis_server.url, identity=identity)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    return Gateway(server, http, settings), config


@pytest.fixture
async def csv_gateway(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Gateway, Path]]:
    gw, config = await gateway_with(tmp_path, redis_server, {"csv": csv_settings()})
    yield gw, config
    await gw.http.close()
    await gw.server.close()


async def test_a_web_form_from_a_family_phone_shows_the_household_on_the_ticket(
    csv_gateway: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, config = csv_gateway
    resp = await gw.post_form(post(phone="(555) 301-0001"))
    assert resp.status == 202
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "from: Tran household via webform" in shown.stdout
    assert "lang: vi" in shown.stdout
    assert "requester: parent (directory household:H100)" in shown.stdout
    metrics = await (await gw.http.get(gw.base + "/metrics")).text()
    assert 'intake_directory_lookups_total{directory="csv",outcome="household"} 1.0' in metrics
    # At intake the household's language (the text is detected by the worker: see test_language_detection.py).
    assert 'intake_request_language_total{language="vi",source="directory"} 1.0' in metrics


async def test_a_vietnamese_request_without_a_chosen_language_is_answered_in_vietnamese(
    csv_gateway: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, config = csv_gateway
    resp = await gw.post_form(post(email="someone.new@example.com"))
    rid = (await resp.json())["request_id"]
    assert intake(config, "worker", "--burst").returncode == 0
    replies = [json.loads(e) for e in redis_server.client().lrange(keys.timeline(rid), 0, -1)]
    [reply] = [e for e in replies if e["event"] == "reply"]
    assert reply["language"] == "vi"
    assert reply["text"].startswith("Chúng tôi đã nhận được yêu cầu của quý vị")


async def test_a_short_message_is_answered_in_the_directorys_language(
    csv_gateway: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, config = csv_gateway
    resp = await gw.post_form(post(email="wei.zhang@example.net", message="wifi down"))
    rid = (await resp.json())["request_id"]
    assert intake(config, "worker", "--burst").returncode == 0
    conv = redis_server.client().hgetall(keys.conversation(rid))
    assert conv[b"language"] == b"zh"
    shown = intake(config, "tickets", "show", "1").stdout
    assert "from: Wei Zhang via webform  school: wms  lang: zh" in shown


async def test_the_name_a_family_typed_is_kept_over_the_directorys(
    csv_gateway: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, config = csv_gateway
    await gw.post_form(post(name="Lan T.", email="lan.tran@example.net", school="jes", language="en"))
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1").stdout
    assert "from: Lan T. via webform  school: jes" in shown
    assert "requester: parent (directory G100-1)" in shown


async def test_a_staff_member_found_in_ldap_is_on_the_ticket(
    tmp_path: Path, redis_server: RedisServer, slapd: Slapd
) -> None:
    gw, config = await gateway_with(tmp_path, redis_server, {"ldap": ldap_settings(slapd)})
    try:
        resp = await gw.post_form(post(email="maria.rivera@district.test", message="projector broken", language="es"))
        assert resp.status == 202
    finally:
        await gw.http.close()
        await gw.server.close()
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1").stdout
    assert "from: Maria Rivera via webform  school: lhs" in shown
    assert "requester: staff (directory mrivera)" in shown


@pytest.mark.parametrize("fault", ["hung", "down"])
async def test_a_hung_or_down_ldap_server_does_not_hold_up_the_web_form(
    tmp_path: Path, redis_server: RedisServer, slapd: Slapd, fault: str
) -> None:
    gw, config = await gateway_with(tmp_path, redis_server, {"ldap": ldap_settings(slapd, timeout_ms=300)})
    if fault == "hung":
        slapd.freeze()
    else:
        slapd.stop()
    try:
        started = time.monotonic()
        resp = await gw.post_form(post(email="maria.rivera@district.test", name="Maria"))
        elapsed = time.monotonic() - started
    finally:
        if fault == "hung":
            slapd.thaw()
        await gw.http.close()
        await gw.server.close()
    assert resp.status == 202
    assert elapsed < 0.3 + 0.5  # the LDAP bound plus a whole request's work on a busy shared machine
    assert intake(config, "worker", "--burst").returncode == 0
    shown = intake(config, "tickets", "show", "1").stdout
    assert "from: Maria via webform" in shown
    assert "requester:" not in shown  # not resolved: what the channel told us, nothing invented


def test_doctor_shows_directory_rows_and_ldap_reachability(
    tmp_path: Path, redis_server: RedisServer, slapd: Slapd
) -> None:
    config = write_config(tmp_path, redis_server.url, identity={"csv": csv_settings(), "ldap": ldap_settings(slapd)})
    up = intake(config, "doctor")
    assert "[ok  ] directory csv: 8 row(s) from 2 file(s)" in up.stdout
    assert f"[ok  ] directory ldap {slapd.url}: reachable, bind and search allowed" in up.stdout
    slapd.stop()
    down = intake(config, "doctor")
    assert down.returncode == 1
    assert f"[FAIL] directory ldap {slapd.url}: LDAP" in down.stdout


async def test_lookups_abandoned_for_a_hung_directory_are_counted(
    tmp_path: Path, redis_server: RedisServer, slapd: Slapd
) -> None:
    gw, _ = await gateway_with(tmp_path, redis_server, {"ldap": ldap_settings(slapd, timeout_ms=300)})
    slapd.freeze()
    try:
        await gw.post_form(post(email="maria.rivera@district.test"))
        await gw.post_form(post(email="j.chen@district.test"))
        metrics = await (await gw.http.get(gw.base + "/metrics")).text()
    finally:
        slapd.thaw()
        await gw.http.close()
        await gw.server.close()
    assert 'intake_directory_lookups_total{directory="ldap",outcome="timeout"} 1.0' in metrics
    assert 'intake_directory_lookups_total{directory="ldap",outcome="skipped"} 1.0' in metrics
