"""The Twilio channel is switched on from the environment alone, and a bad number fails at start naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.errors import ConfigError
from gateway.settings import load_settings
from tests.support.gateway import REPO

SHIPPED = REPO / "config" / "gateway.yaml"


def test_the_shipped_config_switches_twilio_on_from_the_environment() -> None:
    off = load_settings(SHIPPED, env={})
    assert not off.channels.twilio.enabled
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t0ken", "TWILIO_PHONE_NUMBER": "+15555550142",
           "TWILIO_API_BASE_URL": "https://127.0.0.1:8443"}  # fmt: skip
    on = load_settings(SHIPPED, env=env).channels.twilio
    assert on.enabled
    assert on.numbers["main"].number == "+15555550142"
    assert on.api_base_url == "https://127.0.0.1:8443"
    assert on.auth_token.get_secret_value() == "t0ken"


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ({"school": "lhs"}, "channels.twilio.numbers.lhs"),
        ({"number": "555-0100"}, "channels.twilio.numbers.lhs.number"),
        ({"messaging_service_sid": "MGshort"}, "channels.twilio.numbers.lhs.messaging_service_sid"),
    ],
)
def test_a_bad_district_number_fails_at_start_naming_the_key(tmp_path: Path, number: dict[str, str], key: str) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["channels"]["twilio"]["numbers"] = {"lhs": number}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})
    assert any(f"key {key}" in p and str(path) in p for p in caught.value.problems), caught.value.problems


def test_credentials_without_any_number_fail_at_start(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["channels"]["twilio"]["numbers"] = {}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})
    assert "expected at least one district number" in str(caught.value)
