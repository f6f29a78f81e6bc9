"""The reports read the built-in store: its fixtures (SQLite and PostgreSQL, tickets made to order) are shared,
with the district's settings and rules in America/Chicago."""

from pathlib import Path

import pytest

from gateway.routing.model import RuleSet
from gateway.routing.router import load_ruleset
from gateway.settings import Settings
from tests.gateway.tickets.conftest import make, store, store_url
from tests.support.gateway import settings_from, write_config

__all__ = ["make", "store", "store_url"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_from(write_config(tmp_path, "redis://127.0.0.1:1/0", timezone="America/Chicago"))


@pytest.fixture
def rules(settings: Settings) -> RuleSet:
    return load_ruleset(settings)
