"""A district's Redis is protected: an ACL user and password on the servers, the sentinels' own requirepass, and
TLS with client certificates; or one server whose password is in `redis.url`. Real redis-server and sentinels
demand them; the gateway's own processes give them, refuse to start on a wrong one naming the setting, and never
write one to a log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from gateway.store.redis_access import access_problems
from gateway.store.redis_conn import async_client, sync_client
from tests.conftest import form
from tests.support.gateway import TOKEN, intake, settings_from, start_process, tickets_by_conversation, write_config
from tests.support.redis_guard import Guard, TlsFiles
from tests.support.redis_server import RedisServer, free_port
from tests.support.sentinel import MASTER_NAME, SentinelSet, until

SERVER_PASSWORD = "srv-Pa55-q8Zr2"
SENTINEL_PASSWORD = "snt-Pa55-w4Kd9"
WRONG_PASSWORD = "wrong-Pa55-x7Tn3"


def guard(tmp_path: Path, tls: bool) -> Guard:
    files = TlsFiles.issue(tmp_path / "tls") if tls else None
    return Guard(username="intake", password=SERVER_PASSWORD, sentinel_password=SENTINEL_PASSWORD, tls=files)


@pytest.fixture(params=["passwords", "passwords and tls"])
def protected(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SentinelSet]:
    found = SentinelSet(tmp_path / "sentinel", count=2, guard=guard(tmp_path, request.param == "passwords and tls"))
    try:
        found.start()
        yield found
    finally:
        found.stop()


def config_for(tmp_path: Path, sentinels: SentinelSet, **redis: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = {"sentinels": sentinels.addresses, "master_name": MASTER_NAME, **sentinels.guard.settings(), **redis}
    return write_config(tmp_path, "", redis=settings, server={"port": free_port()})


def post_form(port: int) -> int:
    body = json.dumps(form(message="The bus did not stop at Lincoln today.")).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Idempotency-Key": "f-1"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/webform", body, headers)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        return int(resp.status)


def answering(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def every_log(tmp_path: Path) -> str:
    """Every log this test's processes wrote: the gateway's, and the servers' and sentinels' own."""
    return "".join(path.read_text(errors="replace") for path in tmp_path.rglob("*.log"))


def test_a_web_form_becomes_a_ticket_through_protected_servers_and_sentinels_and_no_log_holds_a_password(
    tmp_path: Path, protected: SentinelSet
) -> None:
    config = config_for(tmp_path, protected)
    settings = settings_from(config)
    log = tmp_path / "gateway.log"
    procs = [start_process(config, log, "serve"), start_process(config, log, "worker")]
    try:
        until(lambda: answering(settings.server.port), "the web process answers", timeout=90)
        assert post_form(settings.server.port) == 202
        until(lambda: sum(tickets_by_conversation(settings).values()) == 1, "the worker makes the ticket", 90)
        doctor = intake(config, "doctor", "--json", log=tmp_path / "doctor.log")
    finally:
        stop(procs)
    found = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert found["redis"]["ok"] and found["durability"]["ok"], found["redis"]
    # The doctor asks the sentinels with their own password (and over TLS): they answer, and agree.
    assert found["sentinels"]["ok"] and "2 of 2 answered" in found["sentinels"]["detail"], found["sentinels"]
    assert found["replicas"]["ok"], found["replicas"]
    assert "ticket created" in log.read_text(), "the worker logged nothing: the privacy check would prove nothing"
    written = every_log(tmp_path) + doctor.stdout + doctor.stderr
    for secret in protected.guard.secrets:
        assert secret not in written


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[SentinelSet]:
    found = SentinelSet(tmp_path / "sentinel", count=2, guard=guard(tmp_path, tls=True))
    try:
        found.start()
        yield found
    finally:
        found.stop()


# Each process checks at its start; each case is one wrong setting, and what the message must name to fix it.
WRONG = [
    ("serve", {"password": WRONG_PASSWORD}, ["the Redis primary at", "refused redis.username", "redis.password"]),
    ("worker", {"username": "", "password": ""}, ["asks for a password: set redis.password (REDIS_PASSWORD)"]),
    ("mail", {"sentinel_password": WRONG_PASSWORD}, ["the sentinel at", "refused redis.sentinel_password"]),
    ("sync", {"sentinel_password": ""}, ["asks for a password: set redis.sentinel_password"]),
    ("worker", {"tls_ca_file": "other-ca"}, ["TLS with the sentinel at", "redis.tls_ca_file"]),
    ("serve", {"tls_cert_file": "", "tls_key_file": ""}, ["client certificate", "redis.tls_cert_file"]),
]


def test_a_wrong_password_or_certificate_stops_each_process_at_start_naming_the_setting_never_the_value(
    tmp_path: Path, guarded: SentinelSet
) -> None:
    other_ca = TlsFiles.issue(tmp_path / "other-ca").ca  # a real CA, only not the one that signed the servers'
    outputs = []
    for n, (process, wrong, expected) in enumerate(WRONG):
        redis = {k: str(other_ca) if v == "other-ca" else v for k, v in wrong.items()}
        run = intake(config_for(tmp_path / f"case-{n}", guarded, **redis), process)
        message = run.stderr
        assert run.returncode == 2, (process, wrong, run.stdout, message)
        assert "config error" in message
        for fragment in expected:
            assert fragment in message, (process, wrong, message)
        outputs.append(run.stdout + message)
    doctor = intake(config_for(tmp_path / "doctor", guarded, password=WRONG_PASSWORD), "doctor", "--json")
    redis_check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "redis")
    assert not redis_check["ok"]
    assert "refused redis.username (REDIS_USERNAME) and redis.password" in redis_check["detail"]
    written = "".join(outputs) + doctor.stdout + doctor.stderr + every_log(tmp_path)
    for secret in (*guarded.guard.secrets, WRONG_PASSWORD):
        assert secret not in written


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, TlsFiles]]:
    """One server (no sentinels), asking for a password (requirepass) and a client certificate over TLS."""
    protection = Guard(password=SERVER_PASSWORD, tls=TlsFiles.issue(tmp_path / "tls"))
    server = RedisServer(tmp_path / "redis", client_kwargs=protection.server_kwargs())
    server.extra_args = protection.server_args(server.port)
    server.start()
    assert protection.tls is not None
    yield server, protection.tls
    server.stop()


async def test_the_password_in_redis_url_reaches_a_tls_redis_and_a_wrong_one_is_named_but_never_shown(
    tmp_path: Path, tls_redis: tuple[RedisServer, TlsFiles]
) -> None:
    server, files = tls_redis
    tls = {"tls": True, "tls_ca_file": str(files.ca), "tls_cert_file": str(files.client_cert),
           "tls_key_file": str(files.client_key)}  # fmt: skip
    # redis:// with redis.tls true: the gateway connects with TLS (rediss://), as a district's URL often reads.
    url = f"redis://:{quote(SERVER_PASSWORD)}@127.0.0.1:{server.port}/0"
    (tmp_path / "right").mkdir()
    settings = settings_from(write_config(tmp_path / "right", url, redis=tls))
    assert access_problems(settings) == []
    client = sync_client(settings)
    assert client.set("ig:test:protected", "kept")
    client.close()
    aclient = async_client(settings)
    assert await aclient.get("ig:test:protected") == "kept"
    await aclient.aclose()

    (tmp_path / "wrong").mkdir()
    wrong = write_config(tmp_path / "wrong", f"redis://:{WRONG_PASSWORD}@127.0.0.1:{server.port}/0", redis=tls)
    run = intake(wrong, "worker")
    assert run.returncode == 2, run.stderr
    refused = f"the Redis server at 127.0.0.1:{server.port} refused the user and password in redis.url (REDIS_URL)"
    assert f"{wrong}: {refused}" in run.stderr
    doctor = intake(wrong, "doctor")
    assert f"[FAIL] redis: {refused}" in doctor.stdout
    for shown in (run.stdout, run.stderr, doctor.stdout, doctor.stderr, every_log(tmp_path)):
        assert WRONG_PASSWORD not in shown and SERVER_PASSWORD not in shown
