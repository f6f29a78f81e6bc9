from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN
from tests.channels.x_support import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, USER_TOKEN
from tests.support.meta_api import MetaStandIn
from tests.support.twilio_api import TwilioStandIn
from tests.support.x_api import XStandIn


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    """The local stand-in for Twilio's REST API (https, test CA), stopped after the test."""
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


@pytest.fixture
def meta_api(tmp_path: Path) -> Iterator[MetaStandIn]:
    """The local stand-in for Meta's Graph API (https, test CA), stopped after the test."""
    api = MetaStandIn(tmp_path).start()
    yield api
    api.stop()


@pytest.fixture
def x_api() -> Iterator[XStandIn]:
    """The local stand-in for X's direct message API, checking OAuth 1.0a signatures, stopped after the test."""
    api = XStandIn(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, USER_TOKEN).start()
    yield api
    api.stop()
