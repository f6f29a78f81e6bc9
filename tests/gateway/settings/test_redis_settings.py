"""Redis Sentinel settings: read from the file or the environment, checked at start with the file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.store.embedded_redis import embedded
from tests.support.gateway import REPO

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
