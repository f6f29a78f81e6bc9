"""GET /status/{token}: where a requester sees their request, from a signed link with no login.

The link is the secret, so the page names no email or phone, is never indexed, and sends no referrer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from gateway import keys
from gateway.errors import NotFound
from gateway.server import appkeys as K
from gateway.store.queues import EVENTS_QUEUE, LOOK_UP_STATUS_FUNC, enqueue_once
from gateway.store.redis_conn import text
from gateway.web.i18n import Words, choose, from_accept_language
from gateway.web.render import message_page, page
from gateway.web.status_links import link_base, public_base, read_token, short_reference
from gateway.web.status_story import joined, story
from gateway.web.survey import survey_view
from workers.backends import looks_up_status

log = logging.getLogger("intake.web.status")

WAIT_STEP_S = 0.05  # how often the page looks for the worker's fresh status while it waits


@dataclass
class Snapshot:
    """What Redis knows about a request. `recorded` is False while it waits in the spool or the queue."""

    recorded: bool = False
    status: str = "received"
    ticket: str = ""
    language: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    conversation: str = ""
    backend: str = ""
    checked_at: float = 0.0  # when a worker last asked the ticket system (workers/status_lookup.py)
    survey: dict[str, str] = field(default_factory=dict)  # the conversation's satisfaction survey, if it has one


async def load(client: aioredis.Redis, request_id: str) -> Snapshot:
    req = {text(k): text(v) for k, v in (await client.hgetall(keys.request(request_id))).items()}
    conv_id = req.get("conversation")
    if not conv_id:
        return Snapshot()
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.conversation(conv_id))
        pipe.hgetall(keys.survey(conv_id))
        conv_raw, survey_raw = await pipe.execute()
    conv = {text(k): text(v) for k, v in conv_raw.items()}
    # A request merged at the desk, or one another was merged into, tells the story of both.
    entries = await story(client, await joined(client, conv_id, conv))
    return Snapshot(
        recorded=True,
        status=conv.get("status") or "received",
        ticket=conv.get("ticket_ref") or req.get("ticket_ref") or "",
        language=conv.get("language") or None,
        timeline=entries,
        conversation=conv_id,
        backend=conv.get("backend", ""),
        checked_at=_float(conv.get("status_checked_at")),
        survey={text(k): text(v) for k, v in survey_raw.items()},
    )


def _float(raw: str | None) -> float:
    try:
        return float(raw or 0)
    except ValueError:
        return 0.0


async def freshen(request: web.Request, request_id: str, snap: Snapshot) -> Snapshot:
    """The snapshot with the status its ticket system reports now, when a worker can say within the page's budget.

    The page never calls a ticket system itself: it queues a look-up (once per `sync.lookup_fresh_s`) and waits
    at most `sync.page_wait_s` for a worker's answer, else shows the last status we know (the look-up still
    records what it finds, for the next visit)."""
    settings = request.app[K.SETTINGS]
    conf = settings.sync
    if not snap.ticket or not looks_up_status(snap.backend or settings.backends.default):
        return snap
    now = time.time()
    if now - snap.checked_at < conf.lookup_fresh_s:
        return snap
    window = int(now // conf.lookup_fresh_s) if conf.lookup_fresh_s > 0 else int(now * 1000)
    payload = {"conversation": snap.conversation}
    job_id = f"status-lookup-{snap.conversation}-{window}"
    client = request.app[K.REDIS]
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, enqueue_once, request.app[K.SYNC_REDIS], settings, EVENTS_QUEUE,
                                   LOOK_UP_STATUS_FUNC, payload, job_id, "status page look-up")  # fmt: skip
        deadline = loop.time() + conf.page_wait_s
        while loop.time() < deadline:
            await asyncio.sleep(min(WAIT_STEP_S, max(0.0, deadline - loop.time())))
            checked = await client.hget(keys.conversation(snap.conversation), "status_checked_at")
            if _float(text(checked) if checked is not None else None) > snap.checked_at:
                return await load(client, request_id)
    except (RedisError, OSError) as exc:
        log.warning("status look-up not asked: redis unreachable", extra={"error": type(exc).__name__})
    return snap


def describe(entry: dict[str, Any], words: Words) -> dict[str, str]:
    """One timeline line in the page language; a reply's text is already in the requester's language."""
    event = entry["event"]
    at = str(entry.get("at", ""))
    item = {"event": event, "at": at, "when": words.time(at), "text": "", "comment": ""}
    if event == "reply":
        item["text"] = str(entry.get("text", ""))
    elif event == "ticket_created":
        item["text"] = words.fmt("ev_ticket_created", ticket=entry.get("ticket", ""))
    elif event == "status_changed":
        item["text"] = words.fmt("ev_status_changed", status=words.status(str(entry.get("status", ""))))
        item["comment"] = str(entry.get("comment") or "")
    elif event == "answer":  # staff answered in the ticket system, quoted as they wrote it
        item["text"] = words.ev_answer
        item["comment"] = str(entry.get("comment") or "")
    elif event == "merged":  # the desk joined two of the family's requests about one problem
        item["text"] = words.fmt("ev_merged", ticket=entry.get("ticket", ""), into=entry.get("into", ""))
    else:
        item["text"] = getattr(words, f"ev_{event}")
    return item


async def show_status(request: web.Request) -> web.Response:
    try:
        return await _show_status(request)
    except web.HTTPException:
        raise
    except Exception:
        # Handled here rather than by the app's error middleware, which would log the path: here it is the secret.
        log.exception("status page failed", extra={"path": "/status/[token]"})
        lang = choose(request.query.get("lang"), default=request.app[K.SETTINGS].default_language)
        return message_page(request, lang, "error_title", "error_text", 500, private=True)


async def _show_status(request: web.Request) -> web.Response:
    settings = request.app[K.SETTINGS]
    accept = from_accept_language(request.headers.get("Accept-Language"))
    asked = request.query.get("lang")
    try:
        request_id = read_token(request.app[K.SIGNING_KEY], request.match_info["token"])
    except NotFound:
        lang = choose(asked, accept, default=settings.default_language)
        return message_page(request, lang, "not_found_title", "not_found_text", 404, private=True, link_form=True)
    try:
        snap = await load(request.app[K.REDIS], request_id)
    except (RedisError, OSError) as exc:  # OSError covers socket timeouts
        # The request itself is safe (Redis or the spool took it); only reading it back failed.
        log.warning("status page unavailable: redis unreachable", extra={"error": type(exc).__name__})
        lang = choose(asked, accept, default=settings.default_language)
        return message_page(request, lang, "unavailable_title", "unavailable_text", 503, private=True)

    snap = await freshen(request, request_id, snap)
    lang = choose(asked, snap.language, accept, default=settings.default_language)
    words = Words(lang, zone=settings.zone)  # every time a family reads is the district's, never UTC
    # Never a link to a host the caller named (a Host header is theirs to write): the configured address instead.
    base = link_base(settings, str(request.url.origin())) or public_base(settings)
    context = {
        "new": request.query.get("new") == "1",
        "reference": short_reference(request_id),
        "ticket": snap.ticket,
        "recorded": snap.recorded and bool(snap.ticket),
        "status_words": words.status(snap.status),
        "status": snap.status,
        "timeline": [describe(e, words) for e in snap.timeline],
        "link": f"{base}{request.path}",
        "request_path": request.path,
        "survey": survey_view(snap.survey, settings.surveys.comment_max_chars),
    }
    resp = page(request, "status.html", lang, context, private=True)
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp
