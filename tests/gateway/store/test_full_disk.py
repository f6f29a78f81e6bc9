"""A full disk under the data directory (a small tmpfs the test mounts): the blob store, the spool and the
ticket store. Nothing stored means 503 with a clear body; nothing half-written is left; all resumes once
there is room again."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.server import appkeys as K
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer
from tests.support.small_disk import fill, small_disk
from tests.support.waiting import eventually
from workers.backends.builtin import BuiltinBackend

ACCEPTED = (200, 201, 202)


@pytest.fixture
async def on_small_disk(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Gateway, Path]]:
    with small_disk(tmp_path / "disk") as disk:
        config = write_config(tmp_path, redis_server.url, data_dir=str(disk / "data"))
        settings = settings_from(config)
        gw = Gateway(*await start_gateway(settings), settings)
        try:
            yield gw, disk
        finally:
            await gw.http.close()
            await gw.server.close()


def half_written(disk: Path) -> list[Path]:
    return [p for p in (disk / "data").rglob("*") if ".tmp" in p.name or p.name.startswith("upload-")]


async def test_an_upload_on_a_full_disk_is_a_503_that_leaves_no_half_written_file_and_recovers(
    on_small_disk: tuple[Gateway, Path],
) -> None:
    gw, disk = on_small_disk
    pdf = b"%PDF-1.4 " + os.urandom(400_000)
    payload = form(attachments=[{"filename": "permission-slip.pdf", "data_base64": base64.b64encode(pdf).decode()}])
    filler = fill(disk, leave=128 * 1024)  # room for part of the file, not all of it
    resp = await gw.post_form(payload)
    assert resp.status == 503
    body = await resp.json()
    assert body["error"] == "storage_full" and "disk is full" in body["message"]
    assert resp.headers["Retry-After"]
    assert half_written(disk) == []
    filler.unlink()
    resp = await gw.post_form(payload)
    assert resp.status in ACCEPTED
    stored = [p for p in (disk / "data" / "blobs").rglob("*") if p.is_file() and ".incoming" not in p.parts]
    assert [p.read_bytes() == pdf for p in stored] == [True]


async def test_redis_away_and_no_room_for_the_spool_is_a_503_and_the_spool_stays_sound(
    on_small_disk: tuple[Gateway, Path], redis_server: RedisServer
) -> None:
    gw, disk = on_small_disk
    redis_server.stop(kill=True)
    filler = fill(disk)
    assert (await gw.post_form(form(message="Nothing could store this."))).status == 503
    filler.unlink()
    assert (await gw.post_form(form(message="This one is spooled."))).status in ACCEPTED
    spool = disk / "data" / "spool.sqlite3"
    with sqlite3.connect(spool) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    redis_server.start()
    committer = gw.server.app[K.COMMITTER]
    await eventually(lambda: committer.spool.depth == 0, "the spool drained into Redis once it was back")
    assert half_written(disk) == []


async def test_a_full_ticket_store_holds_the_request_and_makes_its_ticket_once_there_is_room(
    tmp_path: Path, on_small_disk: tuple[Gateway, Path]
) -> None:
    gw, disk = on_small_disk
    config = tmp_path / "gateway.yaml"
    log = tmp_path / "worker.log"
    store = BuiltinBackend.from_settings(settings_from(config))
    worker = start_worker(config, log)
    try:
        assert (await gw.post_form(form(message="Before the disk filled."))).status in ACCEPTED
        await eventually(lambda: store.count() == 1, "the first ticket made")
        filler = fill(disk)
        assert (await gw.post_form(form(message="After it filled."))).status in ACCEPTED  # Redis, elsewhere, took it
        await eventually(
            lambda: "request held: its ticket system is out of order" in log.read_text(), "the request held"
        )
        assert store.count() == 1
        filler.unlink()
        await eventually(lambda: store.count() == 2, "the ticket made once there was room", timeout=90)
    finally:
        worker.kill()
        worker.wait(30)
    assert "dead-letter" not in log.read_text().lower()
