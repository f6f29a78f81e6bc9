"""`intake incident open --channel NAME` takes any channel of the registry, a plug-in's too, and refuses a name that
is none, naming the channels it knows. Run in this process: a channel a test registers exists only here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import channels
from channels.base import BaseChannel
from gateway.cli.main import main
from gateway.incidents.store import IncidentStore
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer
from workers import context


class ToyChannel(BaseChannel):
    name = "toy"


@pytest.fixture
def config(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setitem(channels.CHANNELS, "toy", ToyChannel)
    path = write_config(tmp_path, redis_server.url)
    yield path
    context.configure(settings_from(path))  # drop the clients the command built in this process


def open_incident(config: Path, *channel_options: str) -> tuple[int, str]:
    args = ["--config", str(config), "incident", "open", "--title", "Toy relay down", "--keyword", "relay"]
    result = CliRunner().invoke(main, [*args, *channel_options])
    return result.exit_code, result.output


def test_an_incident_can_be_narrowed_to_a_plug_in_channel(config: Path, redis_server: RedisServer) -> None:
    code, output = open_incident(config, "--channel", "toy", "--channel", "sms")
    assert code == 0, output
    assert output.startswith("incident 1 open (parent ticket #1): keywords relay; channel toy, sms")
    [incident] = IncidentStore(redis_server.client()).all()
    assert incident.criteria.channels == ("toy", "sms")


def test_a_name_that_is_no_channel_is_refused_with_the_known_ones(config: Path, redis_server: RedisServer) -> None:
    code, output = open_incident(config, "--channel", "pigeon")
    assert code == 2
    assert f"'pigeon' is no channel (known: {', '.join(sorted(channels.CHANNELS))})" in output
    assert IncidentStore(redis_server.client()).all() == []
