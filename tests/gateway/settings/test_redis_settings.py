"""Redis Sentinel settings: read from the file or the environment, checked at start with the file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.store.embedded_redis import embedded
from tests.support.gateway import REPO, intake
from tests.support.redis_guard import TlsFiles

SHIPPED = REPO / "config" / "gateway.yaml"


def test_sentinels_and_the_master_name_come_from_the_environment_and_make_commits_wait_for_a_replica() -> None:
    env = {"REDIS_SENTINELS": "10.0.0.5:26379, sentinel-2.internal:26380", "REDIS_MASTER_NAME": "intake"}
    s = load_settings(SHIPPED, env=env)
    assert s.redis.sentinels == ["10.0.0.5:26379", "sentinel-2.internal:26380"]
    assert s.redis.master_name == "intake"
    assert s.redis.replicas_to_wait == 1
    assert not embedded(s)  # `intake up` starts no Redis of its own beside the sentinels' primary


def test_without_sentinels_nothing_waits_and_the_embedded_redis_runs() -> None:
    s = load_settings(SHIPPED, env={})
    assert (s.redis.sentinels, s.redis.replicas_to_wait) == ([], 0)
    assert embedded(s)


def test_wait_replicas_can_be_set_either_way(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("redis:\n  sentinels: [a:26379]\n  master_name: m\n  wait_replicas: 0\n")
    assert load_settings(path, env={}).redis.replicas_to_wait == 0
    path.write_text("redis:\n  url: redis://db:6379/0\n  wait_replicas: 2\n")
    assert load_settings(path, env={}).redis.replicas_to_wait == 2


CASES = [
    ("no port", "redis:\n  sentinels: [sentinel-1]\n  master_name: m\n", ["key redis.sentinels", "host:port", "26379"]),
    ("bad port", "redis:\n  sentinels: ['a:26379', 'b:port']\n  master_name: m\n", ["key redis.sentinels", "'b:port'"]),
    ("no master name", "redis:\n  sentinels: [a:26379]\n", ["redis.master_name", "REDIS_MASTER_NAME"]),
    (
        "url and sentinels",
        "redis:\n  url: redis://db:6379/0\n  sentinels: [a:26379]\n  master_name: m\n",
        ["redis.sentinels", "redis.url", "not both"],
    ),
    (
        "wait outlasts the socket",
        "redis:\n  sentinels: [a:26379]\n  master_name: m\n  socket_timeout_s: 0.5\n  wait_timeout_ms: 500\n",
        ["redis.wait_timeout_ms", "redis.socket_timeout_s", "lower it"],
    ),
    ("negative replicas", "redis:\n  wait_replicas: -1\n", ["key redis.wait_replicas", "greater than or equal to 0"]),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c for c, _, _ in CASES])
def test_a_bad_sentinel_setting_names_file_key_and_fix(
    tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_a_bad_sentinel_list_in_the_environment_is_named_too() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(SHIPPED, env={"REDIS_SENTINELS": "sentinel-1", "REDIS_MASTER_NAME": "m"})
    assert "key redis.sentinels" in str(err.value)
    assert "host:port" in str(err.value)


def test_passwords_and_tls_come_from_the_environment_as_text_whatever_they_look_like(tmp_path: Path) -> None:
    files = TlsFiles.issue(tmp_path / "tls")
    env = {
        "REDIS_SENTINELS": "a:26379",
        "REDIS_MASTER_NAME": "intake",
        "REDIS_USERNAME": "intake",
        "REDIS_PASSWORD": "123456",  # digits only: still a password, not a number
        "REDIS_SENTINEL_PASSWORD": "true",
        "REDIS_TLS": "true",
        "REDIS_TLS_CA_FILE": str(files.ca),
        "REDIS_TLS_CERT_FILE": str(files.client_cert),
        "REDIS_TLS_KEY_FILE": str(files.client_key),
    }
    r = load_settings(SHIPPED, env=env).redis
    assert (r.username, r.password.get_secret_value(), r.sentinel_password.get_secret_value()) == (
        "intake",
        "123456",
        "true",
    )
    assert r.tls and r.tls_ca_file == str(files.ca) and r.tls_key_file == str(files.client_key)
    assert "123456" not in repr(r)


def test_a_rediss_url_switches_tls_on_and_redis_tls_upgrades_a_redis_url() -> None:
    from gateway.settings import Settings
    from gateway.store.redis_conn import redis_url

    plain = Settings.model_validate({"redis": {"url": "redis://db:6379/0"}})
    assert not plain.redis.uses_tls and redis_url(plain) == "redis://db:6379/0"
    upgraded = Settings.model_validate({"redis": {"url": "redis://db:6379/0", "tls": True}})
    assert upgraded.redis.uses_tls and redis_url(upgraded) == "rediss://db:6379/0"
    assert Settings.model_validate({"redis": {"url": "rediss://db:6380/0"}}).redis.uses_tls


def _tls(tmp_path: Path, **keys: str) -> str:
    lines = "".join(f"  {k}: {v!r}\n" for k, v in keys.items())
    return f"redis:\n  sentinels: [a:26379]\n  master_name: m\n  tls: true\n{lines}"


def test_a_bad_tls_or_password_setting_names_file_key_and_fix_and_never_the_password(tmp_path: Path) -> None:
    files = TlsFiles.issue(tmp_path / "tls")
    other = TlsFiles.issue(tmp_path / "other")
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    secret = "Pa55-in-the-file-6t2"
    cases = [
        (_tls(tmp_path, tls_ca_file=str(tmp_path / "missing-ca.pem")), ["redis.tls_ca_file", "no file at", "PEM"]),
        (_tls(tmp_path, tls_ca_file=str(not_pem)), ["redis.tls_ca_file", "holds no PEM certificate", "CA that signed"]),
        (_tls(tmp_path, tls_cert_file=str(files.client_cert)), ["redis.tls_cert_file and redis.tls_key_file", "both"]),
        (
            _tls(tmp_path, tls_cert_file=str(files.client_cert), tls_key_file=str(other.client_key)),
            ["redis.tls_cert_file and redis.tls_key_file", "cannot be used together", "unencrypted PEM key"],
        ),
        (
            f"redis:\n  url: redis://db:6379/0\n  tls_ca_file: {files.ca}\n",
            ["redis.tls_ca_file is set but TLS is off", "redis.tls true (REDIS_TLS)"],
        ),
        (f"redis:\n  password: {secret}\n", ["embedded one", "REDIS_URL or REDIS_SENTINELS"]),
        (
            f"redis:\n  url: redis://:{secret}@db:6379/0\n  password: {secret}\n",
            ["redis.url already names a user or password", "not both"],
        ),
        (f"redis:\n  url: redis://db:6379/0\n  sentinel_password: {secret}\n", ["need redis.sentinels"]),
        ("redis:\n  url: unix:///run/redis.sock\n  tls: true\n", ["unix:// url needs no TLS"]),
        (f"redis:\n  url: htps://:{secret}@db:6379/0\n", ["key redis.url", "rediss://HOST:PORT/DB (TLS)"]),
    ]
    for text, expected in cases:
        path = tmp_path / "gateway.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_settings(path, env={})
        message = str(err.value)
        assert str(path) in message, message
        for fragment in expected:
            assert fragment in message, (fragment, message)
        assert secret not in message


def test_a_missing_ca_file_stops_a_process_before_it_starts(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(_tls(tmp_path, tls_ca_file="/etc/intake/no-such-ca.pem"))
    run = intake(config, "worker")
    assert run.returncode == 2
    assert f"config error: {config}: key redis: Value error, redis.tls_ca_file: no file at" in run.stderr
