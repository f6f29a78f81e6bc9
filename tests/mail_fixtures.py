"""Fixtures for the email channel's tests: a real Dovecot and a real SMTP server, fresh for each test.

Use them with `pytest_plugins = ["tests.mail_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import Dovecot
from tests.support.smtp_sink import SmtpSink

IMAP_USER = "helpdesk"
IMAP_PASSWORD = "pw"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot with one user, `helpdesk` / `pw`, and an empty INBOX."""
    server = Dovecot()
    try:
        server.add_user(IMAP_USER, IMAP_PASSWORD)
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP server without AUTH or TLS that accepts every message until told otherwise."""
    sink = SmtpSink()
    sink.up()
    try:
        yield sink
    finally:
        sink.down()
