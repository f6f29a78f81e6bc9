"""What a worker lends the channels for their worker-side steps (channels.base.WorkerServices)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import jinja2
import redis

from gateway.models import Commitment
from gateway.outbox.templating import reply_env
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobStore
from workers.backends.base import TicketBackend


@dataclass
class Services:
    """Built once per worker process (workers/context.py); holds clients, never a job's state."""

    redis: redis.Redis
    settings: Settings
    backend: Callable[[str], TicketBackend]

    @cached_property
    def templates(self) -> jinja2.Environment:
        return reply_env()

    @cached_property
    def blobs(self) -> BlobStore:
        return open_blobs(self.settings)

    def comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        backend = self.backend(commitment.route.backend)
        return backend.add_comment(ref, commitment, idempotency_key=idempotency_key, public=public)
