"""A real Request Tracker 5 for the tests that need one: started once per test process, on its own port.

Use it with `pytest_plugins = ["tests.rt_fixtures"]` in tests/conftest.py. Tests share the one RT, so
each makes its own requests (their ids are new) and reads back only its own tickets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rt import RequestTracker


@pytest.fixture(scope="session")
def rt_server() -> Iterator[RequestTracker]:
    """RT with the queues General, Transportation and IT Help, the `Intake Request` and `School` custom
    fields, an API user with a token (`rt_server.token`) and a staff user (`rt_server.staff_token`)."""
    server = RequestTracker()
    try:
        server.start()
        yield server
    finally:
        server.close()
