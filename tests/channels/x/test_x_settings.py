"""X switches on from the environment alone, and a consumer secret without the account's tokens stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels import enabled_channels, section_problems
from channels.x.settings import x_settings
from gateway.settings import Settings, load_settings
from gateway.store.blobs import FileBlobStore
from tests.support.gateway import REPO

SHIPPED = REPO / "config" / "gateway.yaml"
SECRET = {"X_CONSUMER_SECRET": "consumer-s3cr3t-value"}
OAUTH1 = {"X_CONSUMER_KEY": "consumer-key", "X_ACCESS_TOKEN": "access-t0ken-value",
          "X_ACCESS_TOKEN_SECRET": "access-s3cr3t-value"}  # fmt: skip
OAUTH2 = {"X_USER_TOKEN": "user-t0ken-value"}


def _settings(tmp_path: Path, env: dict[str, str]) -> Settings:
    return load_settings(SHIPPED, env={**env, "INTAKE_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(("env", "on"), [({}, False), ({**SECRET, **OAUTH1}, True), ({**SECRET, **OAUTH2}, True)])
def test_the_shipped_config_switches_x_on_from_the_environment(tmp_path: Path, env: dict[str, str], on: bool) -> None:
    settings = _settings(tmp_path, {**env, "X_API_URL": "https://127.0.0.1:8443"})
    assert section_problems(settings) == []
    assert ("x" in enabled_channels(settings, FileBlobStore(tmp_path / "blobs"))) is on
    assert x_settings(settings).api_url == "https://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (SECRET, "X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET"),
        (OAUTH1, "X_CONSUMER_SECRET"),
        (OAUTH2, "X_CONSUMER_SECRET"),
        ({**SECRET, "X_ACCESS_TOKEN": "access-t0ken-value"}, "expected both"),
        ({**SECRET, "X_ACCESS_TOKEN": "a-value", "X_ACCESS_TOKEN_SECRET": "b-value"}, "X_CONSUMER_KEY"),
    ],
)
def test_half_the_settings_stop_the_start_naming_the_file_the_key_and_the_fix(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    problems = section_problems(_settings(tmp_path, env))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SHIPPED}: key channels.x")
    assert named in problems[0]
    assert not any(value in problems[0] for value in env.values() if "value" in value)  # never a secret
