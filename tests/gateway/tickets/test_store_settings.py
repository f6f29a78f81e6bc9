"""Which database the store opens: SQLite under data_dir unless DATABASE_URL (or the setting) names PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.tickets import NewComment, TicketStore, store_url
from gateway.tickets.engine import sqlite_url
from tests.gateway.tickets.conftest import ticket
from tests.support.gateway import write_config


def test_sqlite_under_data_dir_is_the_default_and_database_url_moves_the_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, "redis://127.0.0.1:1/0")
    assert store_url(load_settings(config, env={})) == sqlite_url(tmp_path / "data" / "tickets.sqlite3")
    url = "postgresql://intake:secret@db.district.example.org:5432/intake"
    assert store_url(load_settings(config, env={"DATABASE_URL": url})) == url


def test_a_database_url_the_store_cannot_use_is_named_at_start_without_its_password(tmp_path: Path) -> None:
    config = write_config(tmp_path, "redis://127.0.0.1:1/0")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={"DATABASE_URL": "mysql://intake:hunter22@db/intake"})
    [problem] = refused.value.problems
    assert f"{config}: key backends.builtin.database_url" in problem and "postgresql://" in problem
    assert "hunter22" not in problem


def test_forgetting_a_family_leaves_their_words_nowhere_in_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "tickets.sqlite3"
    store = TicketStore.open(sqlite_url(path))
    for n in range(1, 60):  # enough tickets for the search index to hold several segments
        store.create_ticket(ticket(n, requester_email=f"p{n}@example.org"), idempotency_key=f"k{n}")
    hers = store.create_ticket(ticket(99, body="Zanzibarquux Elm Street 4471"), idempotency_key="hers")
    store.add_comment(hers, NewComment(body="Quokkaplatypus at the stop", author="Ana"), idempotency_key="c")
    assert store.search("zanzibarquux").total == 1
    store.forget(["ana.perez@example.org"], [], [])
    data = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    for word in (b"Zanzibarquux", b"Elm Street", b"Quokkaplatypus", b"ana.perez"):
        assert word not in data
    assert store.count() == 59
    store.close()
