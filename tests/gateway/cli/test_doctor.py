"""`intake doctor` asks each switched-on channel what it checks of its provider: a plug-in channel's checks appear
with no change to the doctor, and a channel the settings leave off is not asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import channels
from channels.base import BaseChannel
from gateway.cli.doctor import diagnose
from gateway.settings import Settings
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer


class RelayChannel(BaseChannel):
    """A chat relay whose key the district must renew: the doctor says when the relay refuses it."""

    name = "relay"
    switched_on: ClassVar[bool] = True

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return cls.switched_on

    @classmethod
    def doctor_checks(cls, settings: Settings) -> list[tuple[str, bool, str]]:
        return [("relay key", False, "the relay refused our key: renew it"), ("relay reachable", True, "reachable")]


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RelayChannel]]:
    monkeypatch.setitem(channels.CHANNELS, "relay", RelayChannel)
    RelayChannel.switched_on = True
    yield RelayChannel
    RelayChannel.switched_on = True


def test_a_plug_in_channels_own_checks_are_in_the_doctors_report(
    tmp_path: Path, redis_server: RedisServer, relay: type[RelayChannel]
) -> None:
    report = diagnose(settings_from(write_config(tmp_path, redis_server.url)))
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["relay key"] == {"name": "relay key", "ok": False, "detail": "the relay refused our key: renew it"}
    assert checks["relay reachable"]["ok"] is True
    assert report["ok"] is False


def test_a_channel_that_is_off_is_not_asked(
    tmp_path: Path, redis_server: RedisServer, relay: type[RelayChannel]
) -> None:
    relay.switched_on = False
    report = diagnose(settings_from(write_config(tmp_path, redis_server.url)))
    assert [c["name"] for c in report["checks"] if c["name"].startswith("relay")] == []
