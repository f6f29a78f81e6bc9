"""Messenger, Instagram and WhatsApp switch on from the environment alone, and half a pair stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels import enabled_channels, section_problems
from channels.meta.settings import meta_settings
from gateway.settings import load_settings
from gateway.store.blobs import FileBlobStore
from tests.support.gateway import REPO

SHIPPED = REPO / "config" / "gateway.yaml"
WEBHOOK = {"META_APP_SECRET": "app-s3cr3t-value", "META_VERIFY_TOKEN": "verify-t0ken-value"}
PAGE = {"META_PAGE_ID": "104200000000001", "META_PAGE_TOKEN": "page-t0ken-value"}
NUMBER = {"WHATSAPP_PHONE_NUMBER_ID": "106540000000001", "WHATSAPP_TOKEN": "wa-t0ken-value"}


def _on(tmp_path: Path, env: dict[str, str]) -> list[str]:
    settings = load_settings(SHIPPED, env={**env, "INTAKE_DATA_DIR": str(tmp_path)})
    assert section_problems(settings) == []
    return sorted(n for n in enabled_channels(settings, FileBlobStore(tmp_path / "blobs")) if n != "webform")


def test_the_shipped_config_switches_each_meta_channel_on_from_the_environment(tmp_path: Path) -> None:
    assert _on(tmp_path, {}) == []
    assert _on(tmp_path, WEBHOOK) == ["meta"]
    assert _on(tmp_path, {**WEBHOOK, **PAGE}) == ["instagram", "messenger", "meta"]
    assert _on(tmp_path, {**WEBHOOK, **NUMBER}) == ["meta", "whatsapp"]
    env = {**WEBHOOK, **PAGE, **NUMBER, "META_GRAPH_URL": "https://127.0.0.1:8443/v21.0"}
    assert _on(tmp_path, env) == ["instagram", "messenger", "meta", "whatsapp"]
    conf = meta_settings(load_settings(SHIPPED, env={**env, "INTAKE_DATA_DIR": str(tmp_path)}))
    assert conf.graph_url == "https://127.0.0.1:8443/v21.0"
    assert (conf.pages["main"].page_id, conf.numbers["main"].phone_number_id) == ("104200000000001", "106540000000001")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"META_APP_SECRET": "app-s3cr3t-value"}, "META_APP_SECRET and META_VERIFY_TOKEN"),
        ({"META_VERIFY_TOKEN": "verify-t0ken-value"}, "META_APP_SECRET and META_VERIFY_TOKEN"),
        (PAGE, "the webhook that receives its messages is off"),
        (NUMBER, "the webhook that receives its messages is off"),
        ({**WEBHOOK, "META_PAGE_ID": "104200000000001"}, "channels.meta.pages.main: Value error, token"),
        ({**WEBHOOK, "WHATSAPP_TOKEN": "wa-t0ken-value"}, "channels.meta.numbers.main: Value error, phone_number_id"),
    ],
)
def test_half_a_pair_stops_the_start_naming_the_file_the_key_and_the_fix(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    settings = load_settings(SHIPPED, env={**env, "INTAKE_DATA_DIR": str(tmp_path)})
    problems = section_problems(settings)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SHIPPED}: key channels.meta")
    assert named in problems[0]
    assert not any(value in problems[0] for value in env.values() if "value" in value)  # never a secret
