"""Fetching the photos, voice notes, videos and documents families send on Messenger, Instagram and WhatsApp.

In a worker, after the ticket exists, through gateway.store.safe_fetch (https to Meta's media hosts
only, public addresses, size and time caps). Messenger and Instagram give a file's CDN address in the
webhook. WhatsApp gives a media id: the worker asks the Graph API for its URL (valid for five minutes,
fetched with the number's bearer token); a URL that has expired by the time it is fetched is asked
for again by id. A file that is refused is listed on the ticket as not fetched, with the reason.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from channels.base import WorkerServices
from channels.meta import graph
from channels.meta.graph import GraphError
from channels.meta.inbound import PRODUCT_NAMES
from channels.meta.settings import MetaSettings, meta_settings
from gateway import keys
from gateway.models import Attachment, Commitment, utcnow
from gateway.store.safe_fetch import FetchFailed, FetchRefused, fetch

log = logging.getLogger("intake.meta.media")

EXPIRED = {401, 403, 404, 410}  # what Meta's media host answers for a URL past its five minutes
URL_TRIES = 3


def hosts(conf: MetaSettings) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed, trusted): Meta's media hosts, plus the configured Graph host (an operator's choice)."""
    allowed = {h.lower() for h in conf.media_hosts}
    graph_host = (urlsplit(conf.graph_url).hostname or "").lower()
    allowed.add(graph_host)
    trusted = {graph_host} if not graph_host.endswith(".facebook.com") else set()
    return frozenset(allowed), frozenset(trusted)


def _whatsapp_media(conf: MetaSettings, source: str, token: str) -> bytes:
    """A WhatsApp media id's bytes: its URL from the Graph API, fetched at once, asked for again if it expired."""
    allowed, trusted = hosts(conf)
    media_id = source.rstrip("/").rsplit("/", 1)[-1]
    last: FetchFailed | None = None
    for _ in range(URL_TRIES):
        try:
            found = graph.get(conf, media_id, token)
        except GraphError as exc:
            if exc.kind == "retry":
                raise FetchFailed(str(exc)) from None
            raise FetchRefused(f"Meta no longer has the file (error {exc.code})") from None
        url = str(found.get("url") or "")
        if not url:
            raise FetchRefused("Meta gave no address for the file")
        try:
            return fetch(url, allowed_hosts=allowed, trusted_hosts=trusted, bearer=token,
                         max_bytes=conf.media_max_bytes, timeout_s=conf.media_timeout_s,
                         ca_file=conf.ca_file).data  # fmt: skip
        except FetchFailed as exc:
            if exc.status not in EXPIRED:
                raise
            last = exc
            log.info("media URL expired: asking Meta for a new one", extra={"status": exc.status})
    raise last or FetchFailed("the media URL kept expiring")


def fetch_media(c: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
    """Fetch each file, store it and add it to ticket `ref`. A refusal is listed; a failure retries the job."""
    conf = meta_settings(svc.settings)
    allowed, trusted = hosts(conf)
    number = conf.number_named(c.message.account)
    files: list[Attachment] = []
    kept = 0
    for a in c.message.attachments:
        if not a.source_url:
            continue
        try:
            if c.message.channel == "whatsapp":
                token = number.token.get_secret_value() if number is not None else ""
                data = _whatsapp_media(conf, a.source_url, token)
            else:
                data = fetch(a.source_url, allowed_hosts=allowed, trusted_hosts=trusted,
                             max_bytes=conf.media_max_bytes, timeout_s=conf.media_timeout_s,
                             ca_file=conf.ca_file).data  # fmt: skip
        except FetchRefused as exc:
            log.warning("media refused", extra={"request_id": c.message.id, "reason": exc.reason})
            files.append(a.model_copy(update={"reason": f"not fetched: {exc.reason}", "source_url": None}))
            continue
        except FetchFailed as exc:
            log.warning("media fetch failed, will retry", extra={"request_id": c.message.id, "error": str(exc)})
            raise
        stored = svc.blobs.put(data, a.filename)
        files.append(stored.model_copy(update={"filename": a.filename}))
        kept += 1
    product = PRODUCT_NAMES.get(c.message.channel, c.message.channel)
    message = c.message.model_copy(update={"text": f"Files sent with the {product} message",
                                           "attachments": tuple(files)})  # fmt: skip
    svc.comment(ref, c.model_copy(update={"message": message}), f"media-{c.message.id}")
    entry = {"at": utcnow().isoformat(), "event": "media_fetched", "request_id": c.message.id, "kept": kept,
             "refused": len(files) - kept}  # fmt: skip
    svc.redis.rpush(keys.timeline(c.conversation), json.dumps(entry))
    return {"kept": kept, "refused": len(files) - kept, "deleted": 0}
