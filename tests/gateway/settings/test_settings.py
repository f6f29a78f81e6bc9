"""A bad configuration fails at start, naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.errors import ConfigError
from gateway.settings import load_settings
from tests.support.gateway import REPO, intake

SHIPPED = REPO / "config" / "gateway.yaml"


def config_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid_with_an_empty_environment() -> None:
    s = load_settings(SHIPPED, env={})
    assert s.server.port == 8080
    assert s.redis.url == ""
    assert not s.channels.webform.sources["demo"].configured


def test_environment_switches_the_demo_source_on_and_overrides_host_port_and_data_dir() -> None:
    env = {"INTAKE_WEBFORM_TOKEN": "abc", "PORT": "9001", "HOST": "10.1.2.3", "INTAKE_DATA_DIR": "/srv/intake"}
    s = load_settings(SHIPPED, env=env)
    assert s.channels.webform.sources["demo"].token.get_secret_value() == "abc"
    assert (s.server.port, s.server.host, s.data_dir) == (9001, "10.1.2.3", "/srv/intake")


def test_secrets_never_show_in_the_settings_repr() -> None:
    s = load_settings(SHIPPED, env={"INTAKE_WEBFORM_TOKEN": "super-secret-value"})
    assert "super-secret-value" not in repr(s)
    assert "super-secret-value" not in str(s.model_dump())


CASES = [
    ("unknown key", "server:\n  prot: 8080\n", ["key server.prot", "unknown setting"]),
    ("wrong type", "server:\n  port: eighty\n", ["key server.port", "valid integer", "'eighty'"]),
    ("out of range", "server:\n  port: 70000\n", ["key server.port", "less than or equal to 65535"]),
    ("missing variable", "secret_key: ${INTAKE_NOT_SET}\n", ["key secret_key", "INTAKE_NOT_SET is not set"]),
    ("bad retry schedule", "jobs:\n  retry_intervals: [10, -1]\n", ["key jobs.retry_intervals", "seconds >= 0"]),
    ("bad YAML", "server:\n  port: [8080\n", ["line 3", "not valid YAML"]),
    ("not a mapping", "- just\n- a list\n", ["expected a mapping"]),
    ("bad log level", "logging:\n  level: LOUD\n", ["key logging.level", "pattern"]),
    ("bad rate", "rate_limits:\n  per_address: lots\n", ["key rate_limits.per_address", "COUNT/UNIT", "30/hour"]),
    ("zero rate", "rate_limits:\n  form_per_client: 0/hour\n", ["key rate_limits.form_per_client", "or off"]),
    ("bad proxy", "server:\n  trusted_proxies: [lb.internal]\n", ["key server.trusted_proxies", "10.0.0.0/8"]),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c for c, _, _ in CASES])
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, case: str, text: str, expected: list[str]) -> None:
    path = config_with(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_a_wrongly_typed_secret_is_not_echoed(tmp_path: Path) -> None:
    path = config_with(tmp_path, "secret_key: [hunter2]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert "key secret_key" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = config_with(tmp_path, "server:\n  port: x\n  hots: y\njobs:\n  timeout_s: 0\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert len(err.value.problems) == 3


def test_check_config_command_prints_each_problem_and_exits_non_zero(tmp_path: Path) -> None:
    text = "server:\n  port: x\nchannels:\n  webform:\n    sources:\n      demo:\n        tokn: a\n"
    path = config_with(tmp_path, text)
    result = intake(path, "check-config")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(lines) == 2
    assert any("key server.port" in line for line in lines)
    assert any("key channels.webform.sources.demo.tokn" in line for line in lines)


def test_check_config_command_accepts_a_good_file(tmp_path: Path) -> None:
    path = config_with(tmp_path, yaml.safe_dump({"server": {"port": 9000}}))
    result = intake(path, "check-config")
    assert result.returncode == 0
    # The configuration, the rules file it points at (the shipped one here), then each ticket system it reached.
    assert result.stdout.splitlines() == [f"{path}: ok", f"{REPO / 'config' / 'rules.yaml'}: ok", "backend builtin: ok"]


def test_missing_config_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config PATH or set INTAKE_CONFIG"):
        load_settings(tmp_path / "nope.yaml", env={})
