"""Where attachments' bytes are kept: files under data_dir (one host), or the built-in store's PostgreSQL (many)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.settings.base import Strict


class BlobSettings(Strict):
    # `file`: data_dir/blobs, which only this host reads. `postgres`: the built-in store's PostgreSQL database
    # (DATABASE_URL), which every web process, worker and mail poller on every host reaches.
    store: Literal["file", "postgres"] = "file"
    # A file larger than this is described on its ticket (name, type, size) and not kept, whatever the store.
    max_bytes: int = Field(32 * 1024 * 1024, gt=0)
