"""Both blob stores keep the same promises: the file store (data_dir/blobs) and the PostgreSQL one (a real server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobMissing, BlobStore
from gateway.store.blobs_postgres import PostgresBlobStore
from tests.support.gateway import settings_from, write_config
from tests.support.postgres import PostgresServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LIMIT = 64 * 1024


@pytest.fixture(params=["file", "postgres"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The store `open_blobs` gives for `blobs.store`, with a 64 KiB limit."""
    conf: dict[str, object] = {"blobs": {"store": request.param, "max_bytes": LIMIT}}
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        conf["backends"] = {"builtin": {"database_url": server.create_database()}}
    return open_blobs(settings_from(write_config(tmp_path, "redis://127.0.0.1:1", **conf)))


def test_a_file_is_kept_once_by_its_sha256_and_read_back(blobs: BlobStore) -> None:
    a = blobs.put(PNG, "stop.png")
    assert (a.kept, a.content_type, a.size, a.storage_key) == (
        True,
        "image/png",
        len(PNG),
        hashlib.sha256(PNG).hexdigest(),
    )
    assert blobs.put(PNG, "again.png").storage_key == a.storage_key
    assert a.storage_key is not None and blobs.get(a.storage_key) == PNG


def test_a_forgotten_file_is_missing_and_forgetting_it_twice_removes_nothing(blobs: BlobStore) -> None:
    key = blobs.put(PNG, "stop.png").storage_key
    assert key is not None
    assert (blobs.delete(key), blobs.delete(key)) == (1, 0)
    with pytest.raises(BlobMissing):
        blobs.get(key)
    with pytest.raises(OSError):  # what the backends already catch for a file that is gone
        blobs.get("0" * 64)


def test_a_file_over_the_limit_is_described_on_the_ticket_and_not_kept(blobs: BlobStore) -> None:
    big = PNG + b"\x01" * LIMIT
    a = blobs.put(big, "scan.png")
    assert (a.filename, a.content_type, a.size, a.kept, a.storage_key) == (
        "scan.png",
        "image/png",
        len(big),
        False,
        None,
    )
    assert a.reason == "larger than the 0.0625 MB the gateway keeps"
    with pytest.raises(BlobMissing):
        blobs.get(hashlib.sha256(big).hexdigest())


def test_an_upload_streamed_in_pieces_becomes_the_same_blob_as_a_put(blobs: BlobStore) -> None:
    data = PNG + bytes(range(256)) * 100
    writer = blobs.writer("photo.png", limit=10 * LIMIT)
    for i in range(0, len(data), 4096):
        assert writer.write(data[i : i + 4096])
    a = writer.finish()
    assert (a.kept, a.size, a.storage_key) == (True, len(data), hashlib.sha256(data).hexdigest())
    assert a.storage_key is not None and blobs.get(a.storage_key) == data


def test_an_upload_over_the_stores_limit_but_within_the_forms_is_described_not_kept(
    blobs: BlobStore, tmp_path: Path
) -> None:
    writer = blobs.writer("scan.png", limit=10 * LIMIT)
    for _ in range(3):
        assert writer.write(PNG + b"\x02" * (LIMIT // 2))
    a = writer.finish()
    assert (a.kept, a.content_type, a.size, a.storage_key) == (False, "image/png", 3 * (len(PNG) + LIMIT // 2), None)
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]  # no temporary file left behind


def test_the_postgres_store_keeps_the_bytes_in_the_databases_blobs_table(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    conf = {"blobs": {"store": "postgres"}, "backends": {"builtin": {"database_url": url}}}
    blobs = open_blobs(settings_from(write_config(tmp_path, "redis://127.0.0.1:1", **conf)))
    assert isinstance(blobs, PostgresBlobStore)
    key = blobs.put(PNG, "stop.png").storage_key
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT size, data FROM blobs WHERE sha256 = %s", (key,)).fetchone() == (len(PNG), PNG)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]  # nothing on this host


def test_the_store_is_chosen_by_INTAKE_BLOB_STORE_and_postgres_needs_the_database(tmp_path: Path) -> None:
    config = write_config(tmp_path, "redis://127.0.0.1:1")
    assert load_settings(config, env={}).blobs.store == "file"
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(config, env={"INTAKE_BLOB_STORE": "postgres"})
    chosen = load_settings(config, env={"INTAKE_BLOB_STORE": "postgres", "DATABASE_URL": "postgresql://db/intake"})
    assert chosen.blobs.store == "postgres"
