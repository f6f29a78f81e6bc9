"""Opening the configured blob store (`blobs.store`): the one way every process reaches attachments' bytes.

The PostgreSQL store shares one connection pool per database in a process, however many parts of it (channels,
backends, the sweep) open the store, and brings the schema up to date the first time, as the ticket store does.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from gateway.settings import Settings
from gateway.store.blobs import INCOMING, BlobStore, FileBlobStore
from gateway.store.blobs_postgres import PostgresBlobStore
from gateway.tickets import migrate
from gateway.tickets.engine import make_engine
from gateway.tickets.store import store_url

_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()


def open_blobs(settings: Settings, *, batch_sync: bool = False) -> BlobStore:
    """The configured store. `batch_sync` (the file store only): see FileBlobStore."""
    conf = settings.blobs
    root = settings.path_in_data("blobs")
    if conf.store == "postgres":
        return PostgresBlobStore(_engine(store_url(settings)), root / INCOMING, conf.max_bytes)
    return FileBlobStore(root, batch_sync=batch_sync, max_bytes=conf.max_bytes)


def _engine(url: str) -> sa.Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            migrate.upgrade(engine)
            _engines[url] = engine
        return engine
