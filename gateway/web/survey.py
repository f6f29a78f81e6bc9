"""GET|POST /survey/{token}: a family's one-click rating from a survey link, then their optional comment; and
POST /status/{token}/survey: the same five choices and comment box on their status page.

GET stores the link's rating (once per survey: any second click, of this link or another of the same survey, is
told that the first answer was kept) and shows the comment form; POST to the same link attaches the comment, once.
A forged link, an expired survey, a rating outside 1-5, an empty or too long comment each get a page saying so in
the family's language, with a 4xx status, and store nothing. Like the status page, the link is the secret: it is
never logged, and the pages send no referrer and are never indexed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Literal

from aiohttp import web
from redis.exceptions import RedisError

from gateway import keys
from gateway.errors import NotFound
from gateway.models import utcnow
from gateway.server import appkeys as K
from gateway.surveys import record
from gateway.surveys.links import LinkRefused, RatingLink, read_token
from gateway.surveys.notes import note_answer
from gateway.web.i18n import choose, from_accept_language
from gateway.web.render import message_page, page
from gateway.web.status_links import read_token as read_status_token

log = logging.getLogger("intake.web.survey")

REFUSED = {"forged": (404, "survey_forged_title", "survey_forged_text"),
           "expired": (410, "survey_expired_title", "survey_expired_text"),
           "rating": (400, "survey_bad_title", "survey_rating_text")}  # fmt: skip
NOT_STORED = {
    "already_answered": (409, "survey_answered_title", "survey_answered_text"),
    "already_commented": (409, "survey_answered_title", "survey_already_commented_text"),
    "expired": (410, "survey_expired_title", "survey_expired_text"),
    "not_answered": (409, "survey_bad_title", "survey_not_rated_text"),
    "not_sent": (404, "survey_forged_title", "survey_forged_text"),
    "no_survey": (404, "survey_forged_title", "survey_forged_text"),
}


async def _note(request: web.Request, conv_id: str, part: Literal["rating", "comment"]) -> None:
    """Tell the ticket system (a job of its own); the family's page never waits on it, nor fails for it."""
    try:
        await asyncio.to_thread(note_answer, request.app[K.SYNC_REDIS], request.app[K.SETTINGS], conv_id, part)
    except (RedisError, OSError) as exc:
        log.warning("survey note not queued", extra={"error": type(exc).__name__, "conversation": conv_id})


def _lang(request: web.Request, survey: record.Survey | None) -> str:
    accept = from_accept_language(request.headers.get("Accept-Language"))
    asked = request.query.get("lang")
    return choose(asked, survey.language if survey else None, accept, default=request.app[K.SETTINGS].default_language)


def _explain(request: web.Request, lang: str, why: tuple[int, str, str], **values: object) -> web.Response:
    status, title, text = why
    resp = message_page(request, lang, title, text, status, values=dict(values), private=True)
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


async def _survey(request: web.Request, conv_id: str) -> record.Survey | None:
    return record.as_survey(conv_id, await request.app[K.REDIS].hgetall(keys.survey(conv_id)))


def _comment_page(request: web.Request, lang: str, survey: record.Survey, status: int = 200) -> web.Response:
    s = request.app[K.SETTINGS].surveys
    context = {"ticket": survey.fields.get("ticket", ""), "rating": survey.rating or 0, "action": request.path,
               "chars": s.comment_max_chars}  # fmt: skip
    resp = page(request, "survey.html", lang, context, status=status, private=True)
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


async def _guarded(request: web.Request, handler: str) -> web.Response:
    """The handler, with Redis's absence said in words; its log never carries the path (the link is a secret)."""
    try:
        link = read_token(request.app[K.SIGNING_KEY], request.match_info["token"], utcnow())
    except LinkRefused as exc:
        return _explain(request, _lang(request, None), REFUSED[exc.reason])
    work = _rate(request, link) if handler == "rate" else _comment(request, link)
    return await _answered_in_words(request, work, "/survey/[token]")


async def _answered_in_words(request: web.Request, work: Awaitable[web.Response], path: str) -> web.Response:
    """A survey page's work, with Redis's absence and any failure said in words. Handled here rather than by the
    app's error middleware, which would log the path: here the token in it is the secret."""
    try:
        return await work
    except web.HTTPException:
        raise
    except (RedisError, OSError) as exc:
        log.warning("survey page unavailable: redis unreachable", extra={"error": type(exc).__name__})
        return message_page(request, _lang(request, None), "unavailable_title", "unavailable_text", 503, private=True)
    except Exception:
        log.exception("survey page failed", extra={"path": path})
        return message_page(request, _lang(request, None), "error_title", "error_text", 500, private=True)


async def rate(request: web.Request) -> web.Response:
    return await _guarded(request, "rate")


async def comment(request: web.Request) -> web.Response:
    return await _guarded(request, "comment")


async def _rate(request: web.Request, link: RatingLink) -> web.Response:
    outcome = await request.app[K.REDIS].eval(*record.answer_args(link.conversation, link.rating, "link", utcnow()))
    outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    survey = await _survey(request, link.conversation)
    lang = _lang(request, survey)
    if outcome != "stored" or survey is None:
        log.info("survey answer refused", extra={"outcome": outcome, "via": "link"})
        return _explain(request, lang, NOT_STORED[outcome])
    log.info("survey answered", extra={"conversation": link.conversation, "via": "link", "rating": link.rating})
    await _note(request, link.conversation, "rating")
    return _comment_page(request, lang, survey)


async def _comment(request: web.Request, link: RatingLink) -> web.Response:
    limit = request.app[K.SETTINGS].surveys.comment_max_chars
    form = await request.post()
    raw = form.get("comment")
    text = raw.strip() if isinstance(raw, str) else ""
    survey = await _survey(request, link.conversation)
    lang = _lang(request, survey)
    if not text:
        return _explain(request, lang, (400, "survey_bad_title", "survey_comment_empty"))
    if len(text) > limit:
        return _explain(request, lang, (400, "survey_bad_title", "survey_comment_long"), chars=limit)
    outcome = await request.app[K.REDIS].eval(*record.comment_args(link.conversation, text, utcnow()))
    outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    if outcome != "stored":
        log.info("survey comment refused", extra={"outcome": outcome, "via": "link"})
        return _explain(request, lang, NOT_STORED[outcome])
    log.info("survey commented", extra={"conversation": link.conversation, "via": "link"})
    await _note(request, link.conversation, "comment")
    return _explain(request, lang, (200, "survey_commented_title", "survey_commented_text"))


def survey_view(fields: dict[str, str], comment_chars: int) -> dict[str, object]:
    """What the status page shows of a survey: the choices while it is open, the answer once it is given."""
    state = fields.get("state", "")
    open_ = state == "sent" and utcnow().timestamp() < float(fields.get("expires_at") or 0)
    return {"open": open_, "answered": state == "answered", "rating": fields.get("rating", ""),
            "chars": comment_chars, "ratings": [5, 4, 3, 2, 1]}  # fmt: skip


async def rate_on_status_page(request: web.Request) -> web.Response:
    """The status page's survey form: a rating 1-5 and an optional comment, stored once like a link's."""
    settings = request.app[K.SETTINGS]
    try:
        request_id = read_status_token(request.app[K.SIGNING_KEY], request.match_info["token"])
    except NotFound:
        return _explain(request, _lang(request, None), REFUSED["forged"])
    work = _rate_on_status_page(request, request_id, settings.surveys.comment_max_chars)
    return await _answered_in_words(request, work, "/status/[token]/survey")


async def _rate_on_status_page(request: web.Request, request_id: str, limit: int) -> web.Response:
    client = request.app[K.REDIS]
    conv_raw = await client.hget(keys.request(request_id), "conversation")
    conv_id = conv_raw.decode() if isinstance(conv_raw, bytes) else str(conv_raw or "")
    survey = await _survey(request, conv_id) if conv_id else None
    lang = _lang(request, survey)
    if survey is None:
        return _explain(request, lang, NOT_STORED["no_survey"])
    form = await request.post()
    raw_rating, raw_comment = form.get("rating"), form.get("comment")
    typed = raw_rating.strip() if isinstance(raw_rating, str) else ""
    rating = int(typed) if typed.isascii() and typed.isdigit() and len(typed) <= 2 else 0  # int() refuses '²'
    if rating not in record.RATINGS:
        return _explain(request, lang, REFUSED["rating"])
    comment = raw_comment.strip() if isinstance(raw_comment, str) else ""
    if len(comment) > limit:
        return _explain(request, lang, (400, "survey_bad_title", "survey_comment_long"), chars=limit)
    now = utcnow()
    outcome = await client.eval(*record.answer_args(conv_id, rating, "status_page", now))
    outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
    if outcome != "stored":
        log.info("survey answer refused", extra={"outcome": outcome, "via": "status_page"})
        return _explain(request, lang, NOT_STORED[outcome])
    log.info("survey answered", extra={"conversation": conv_id, "via": "status_page", "rating": rating})
    await _note(request, conv_id, "rating")
    if comment and await client.eval(*record.comment_args(conv_id, comment, now)) in (b"stored", "stored"):
        await _note(request, conv_id, "comment")
    return _explain(request, lang, (200, "survey_title", "survey_rated"), ticket=survey.fields.get("ticket", ""),
                    rating=rating)  # fmt: skip
