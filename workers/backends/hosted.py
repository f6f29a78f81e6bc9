"""What the hosted help desks' backends (Zammad, Freshdesk, Zendesk) share: Redis and the blob store built once
per worker, the files of a message read for upload, pacing, and the contacts made for people known by phone.

Nothing here calls a system; each backend module speaks its own API (workers/backends/api.py).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property

import redis

from gateway import keys
from gateway.models import InboundMessage
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobStore
from gateway.store.redis_conn import sync_client, text
from workers.backends.api import File
from workers.backends.attempts import Attempts
from workers.backends.base import BaseBackend
from workers.backends.pacing import Pacer


class HostedBackend(BaseBackend):
    """A backend built from the settings alone: its clients come on first use, so the web process (which only
    reads webhooks) never connects to anything it does not need."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def redis(self) -> redis.Redis:
        return sync_client(self.settings)

    @cached_property
    def blobs(self) -> BlobStore:
        return open_blobs(self.settings)

    @cached_property
    def attempts(self) -> Attempts:
        return Attempts(self.redis, self.name)

    def pacer(self, per_minute: float, burst: int | None = None) -> Pacer:
        return Pacer(self.redis, self.name, per_minute, burst)

    def files(self, m: InboundMessage) -> tuple[list[File], dict[str, str]]:
        """Each kept file's bytes, and the files that could not be read (named on the ticket instead).

        A file still at its provider (an MMS photo, a voicemail) is skipped: its own note brings it later.
        """
        out: list[File] = []
        refused: dict[str, str] = {}
        for a in m.attachments:
            if not a.kept or not a.storage_key or a.source_url:
                continue
            try:
                data = self.blobs.get(a.storage_key)
            except OSError:
                refused[a.filename] = "the stored file is gone"
                continue
            out.append(File(a.filename, a.content_type, data))
        return out, refused

    # -- people a system cannot look up by phone: the contact we made for them, remembered ------------------------

    def _contact_field(self, identity: str) -> str:
        # Keyed, so the hash never holds a phone number a reader could recover by trying every number.
        return hmac.new(self.settings.signing_key(), identity.encode(), hashlib.sha256).hexdigest()[:32]

    def known_contact(self, identity: str) -> str | None:
        found = self.redis.hget(keys.backend_contacts(self.name), self._contact_field(identity))
        return text(found) if found is not None else None

    def remember_contact(self, identity: str, contact_id: str) -> None:
        self.redis.hset(keys.backend_contacts(self.name), self._contact_field(identity), contact_id)


def identity_of(m: InboundMessage) -> tuple[str | None, str | None, str]:
    """(email, phone, handle): how a system can know the requester, best first. The handle names someone reached
    on a channel with neither (a Slack user, a Messenger sender), as `<channel>:<their id there>`."""
    who = m.requester
    email = who.email or (m.sender if m.channel == "email" else None)
    phone = who.phone or (m.sender if m.channel in ("sms", "voice") else None)
    return email, phone, f"{m.channel}:{m.sender}"
