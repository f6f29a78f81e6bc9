from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.twilio_api import TwilioStandIn
from tests.workers.backends.helpdesk_support import freshdesk, zammad, zendesk
from tests.workers.backends.webhook_support import receiver

__all__ = ["freshdesk", "receiver", "standin", "zammad", "zendesk"]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    """The local stand-in for Twilio's REST API (https, test CA), stopped after the test."""
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()
