from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway import write_config
from tests.support.redis_server import RedisServer


@pytest.fixture
def config_path(tmp_path: Path, redis_server: RedisServer) -> Path:
    """The shipped config with surveys switched on, and a comment limit short enough to reach in a test."""
    return write_config(tmp_path, redis_server.url, surveys={"enabled": True, "comment_max_chars": 40})
