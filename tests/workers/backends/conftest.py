"""The local Twilio stand-in for the backend tests that text families (the channel tests have their own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.twilio_api import TwilioStandIn


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()
