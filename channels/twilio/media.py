"""Fetching MMS pictures and voicemail recordings in a worker, never on the request path.

Each media URL goes through gateway.store.safe_fetch (https to the provider's hosts only, public addresses,
size and time caps), with the Twilio credentials. What is fetched is stored in the blob store with its
sniffed type and added to the ticket; then it is deleted at Twilio, because it is personal data. A URL
that is refused is listed on the ticket as not fetched, with the reason; the request exists either way.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

from channels.base import WorkerServices
from channels.twilio.send import client
from gateway import keys
from gateway.models import Attachment, Commitment, utcnow
from gateway.settings import TwilioSettings
from gateway.store.safe_fetch import FetchFailed, FetchRefused, fetch

log = logging.getLogger("intake.sms.media")

_MEDIA = re.compile(r"/Messages/(MM[0-9a-f]{32}|SM[0-9a-f]{32})/Media/(ME[0-9a-f]{32})$")
_RECORDING = re.compile(r"/Recordings/(RE[0-9a-f]{32})$")
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/heic": ".heic",
               "video/mp4": ".mp4", "audio/wav": ".wav", "audio/mpeg": ".mp3", "audio/ogg": ".ogg",
               "application/pdf": ".pdf"}  # fmt: skip


def hosts(conf: TwilioSettings) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed, trusted): the provider's media hosts, plus the configured API base (an operator's choice)."""
    allowed = {h.lower() for h in conf.media_hosts}
    trusted: set[str] = set()
    base = urlsplit(conf.api_base_url).hostname if conf.api_base_url else None
    if base:
        allowed.add(base.lower())
        trusted.add(base.lower())
    return frozenset(allowed), frozenset(trusted)


def fetch_media(c: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
    """Fetch each picture or recording, store it, add it to ticket `ref`, then delete it at Twilio."""
    conf = svc.settings.channels.twilio
    allowed, trusted = hosts(conf)
    files: list[Attachment] = []
    fetched: list[str] = []
    for a in c.message.attachments:
        if not a.source_url:
            continue
        try:
            got = fetch(
                a.source_url,
                allowed_hosts=allowed,
                trusted_hosts=trusted,
                auth=(conf.account_sid, conf.auth_token.get_secret_value()),
                max_bytes=conf.media_max_bytes,
                timeout_s=conf.media_timeout_s,
                ca_file=conf.ca_file,
            )
        except FetchRefused as exc:
            log.warning("media refused", extra={"request_id": c.message.id, "reason": exc.reason})
            files.append(a.model_copy(update={"reason": f"not fetched: {exc.reason}", "source_url": None}))
            continue
        except FetchFailed as exc:
            log.warning("media fetch failed, will retry", extra={"request_id": c.message.id, "error": str(exc)})
            raise
        stored = svc.blobs.put(got.data, a.filename)
        name = a.filename.rsplit(".", 1)[0] + _EXTENSIONS.get(stored.content_type, "")
        files.append(stored.model_copy(update={"filename": name}))
        fetched.append(a.source_url)
    text = "Voicemail recording" if c.message.channel == "voice" else "Pictures sent with the text message"
    message = c.message.model_copy(update={"text": text, "attachments": tuple(files)})
    svc.comment(ref, c.model_copy(update={"message": message}), f"media-{c.message.id}")
    deleted = sum(delete_at_twilio(conf, url) for url in fetched)
    r = svc.redis
    entry = {"at": utcnow().isoformat(), "event": "media_fetched", "request_id": c.message.id,
             "kept": len(fetched), "refused": len(files) - len(fetched), "deleted_at_provider": deleted}  # fmt: skip
    r.rpush(keys.timeline(c.conversation), json.dumps(entry))
    return {"kept": len(fetched), "refused": len(files) - len(fetched), "deleted": deleted}


def delete_at_twilio(conf: TwilioSettings, url: str) -> int:
    """DELETE the media (or recording) at Twilio once we hold it. 0 when the URL is not one Twilio deletes."""
    path = urlsplit(url).path
    api = client(conf)
    if m := _MEDIA.search(path):
        api.messages(m.group(1)).media(m.group(2)).delete()
        return 1
    if m := _RECORDING.search(path):
        api.recordings(m.group(1)).delete()
        return 1
    return 0
