"""GET /form and POST /form: the web form a family fills in, without JavaScript, in their language."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aiohttp import web

from gateway.errors import IntakeError, TooManyRequests, Unprocessable
from gateway.models import Attachment, InboundMessage
from gateway.server import appkeys as K
from gateway.settings import Settings
from gateway.store.commit import CommitResult
from gateway.web import csrf
from gateway.web.form_fields import Submission, channel_errors, form_context, probe, required_errors, to_payload
from gateway.web.form_upload import Answers, FormProblem, FormReader
from gateway.web.i18n import Words, choose, from_accept_language
from gateway.web.render import message_page, page
from gateway.web.status_links import make_token
from normalizers.webform import FormFields

log = logging.getLogger("intake.web.form")

SOURCE = "web"
FORM_OVERHEAD = 256 * 1024  # the answers beside the file, and multipart's own bytes


@runtime_checkable
class FormChannel(Protocol):
    """What the page needs of the webform channel (kept structural: gateway code does not import channels)."""

    def parse(self, payload: object) -> FormFields: ...

    def to_message(
        self, fields: FormFields, source: str, provider_id: str | None, stored: Sequence[Attachment] = ()
    ) -> InboundMessage: ...


def _channel(request: web.Request) -> FormChannel:
    channel = request.app[K.CHANNELS].get("webform")
    if not isinstance(channel, FormChannel):
        # The webform channel is switched off in the configuration: there is no form to show.
        raise web.HTTPNotFound()
    return channel


def page_language(request: web.Request) -> str:
    return choose(
        request.query.get("lang"),
        from_accept_language(request.headers.get("Accept-Language")),
        default=request.app[K.SETTINGS].default_language,
    )


def _secure(request: web.Request) -> bool:
    return request.secure or request.app[K.SETTINGS].server.public_base_url.startswith("https://")


def _render_form(
    request: web.Request, lang: str, sub: Submission | None, token: str, status: int, **flags: bool
) -> web.Response:
    settings = request.app[K.SETTINGS]
    return page(request, "form.html", lang, form_context(settings, Words(lang), sub, token, **flags), status=status)


async def show_form(request: web.Request) -> web.Response:
    _channel(request)
    lang = page_language(request)
    # Reuse the browser's binding secret when it has one, so a second open tab does not void the first.
    cookie = request.cookies.get(csrf.COOKIE, "")
    if not csrf.well_formed(cookie):
        cookie = csrf.new_secret()
    token = csrf.issue(request.app[K.SIGNING_KEY], cookie, time.time())
    resp = _render_form(request, lang, None, token, 200)
    resp.set_cookie(csrf.COOKIE, cookie, path="/form", httponly=True, samesite="Lax", secure=_secure(request))
    return resp


def _forbidden(request: web.Request, lang: str) -> web.Response:
    return message_page(
        request, lang, "forbidden_title", "forbidden_text", 403, notes=("cookies_note",), link_form=True
    )


def form_body_limit(settings: Settings) -> int:
    """The most a form post may carry: the largest file and room for the answers."""
    return max(settings.server.max_body_bytes, settings.channels.webform.max_attachment_bytes + FORM_OVERHEAD)


def _problem(request: web.Request, lang: str, problem: FormProblem) -> web.Response:
    if problem.kind == "too_large":
        mb = max(1, request.app[K.SETTINGS].channels.webform.max_attachment_bytes // (1024 * 1024))
        return message_page(request, lang, "too_large_title", "too_large_text", 413, values={"mb": mb}, link_form=True)
    # Not a form a browser would send (not multipart, nested parts, a part without a name, too many fields).
    return message_page(request, lang, "forbidden_title", "forbidden_text", 400, link_form=True)


def _too_many(request: web.Request, lang: str, exc: TooManyRequests) -> web.Response:
    log.info("web form refused: over a rate limit", extra={"retry_after": exc.retry_after})
    minutes = max(1, math.ceil(exc.retry_after / 60))
    resp = message_page(request, lang, "too_many_title", "too_many_text", 429, values={"minutes": minutes})
    resp.headers.update(exc.headers())
    return resp


def _client(request: web.Request) -> str:
    return request.app[K.LIMITS].client_of(request.remote or "", request.headers.get("X-Forwarded-For"))


async def submit_form(request: web.Request) -> web.Response:
    channel = _channel(request)
    lang = page_language(request)
    settings = request.app[K.SETTINGS]
    key = request.app[K.SIGNING_KEY]
    cookie = request.cookies.get(csrf.COOKIE, "")
    if not csrf.well_formed(cookie):
        # Without the cookie no token can be genuine: refuse before reading a body that may be megabytes.
        log.info("web form refused: no form cookie")
        return _forbidden(request, lang)
    cap = form_body_limit(settings)
    if (request.content_length or 0) > cap:
        return _problem(request, lang, FormProblem("too_large"))
    reader = FormReader(request, request.app[K.BLOBS], settings.channels.webform.max_attachment_bytes, cap)
    answers: Answers | None = None
    try:
        # The token is the body's first field: checked before the rest (and its file) is read at all.
        verdict = csrf.verify(key, cookie, await reader.token(), time.time())
        if verdict.check is csrf.Check.INVALID:
            log.info("web form refused: missing or invalid form token")
            return _forbidden(request, lang)
        if verdict.check is csrf.Check.OK:
            await request.app[K.LIMITS].form_client(_client(request))
        answers = await reader.answers(keep_file=verdict.check is csrf.Check.OK)
        return await _accept(request, channel, lang, verdict, answers)
    except FormProblem as problem:
        return _problem(request, lang, problem)
    except TooManyRequests as exc:
        return _too_many(request, lang, exc)
    finally:
        if answers is not None and answers.upload is not None:
            # Committed: the file is a blob already and this removes nothing. Refused or failed: its temporary file.
            await asyncio.get_running_loop().run_in_executor(None, answers.upload.abort)


async def _accept(
    request: web.Request, channel: FormChannel, lang: str, verdict: csrf.Verdict, answers: Answers
) -> web.Response:
    settings = request.app[K.SETTINGS]
    key = request.app[K.SIGNING_KEY]
    sub = Submission(answers.values)
    fresh = csrf.issue(key, request.cookies[csrf.COOKIE], time.time(), nonce=verdict.nonce)
    if verdict.check is csrf.Check.EXPIRED:
        # Genuine and from this browser, only old: give the family their answers back rather than a dead end.
        return _render_form(request, lang, sub, fresh, 403, expired=True, file_dropped=answers.file_chosen)

    sub.errors = required_errors(sub.values)
    if answers.file_too_large:
        sub.errors["attachment"] = "err_attachment"
    fields: FormFields | None = None
    payload = to_payload(sub, lang)
    try:
        fields = channel.parse(probe(payload, sub.errors, settings) if sub.errors else payload)
    except Unprocessable as exc:
        problems = exc.detail.get("fields", {})
        sub.errors = {**channel_errors(problems, sub.values), **sub.errors} or {"form": "err_other"}
    if sub.errors or fields is None:
        return _render_form(request, lang, sub, fresh, 422, file_dropped=answers.file_chosen)

    await request.app[K.LIMITS].addresses(fields.email, fields.phone)
    stored: tuple[Attachment, ...] = ()
    if answers.upload is not None:
        stored = (await asyncio.get_running_loop().run_in_executor(None, answers.upload.finish),)
    message = channel.to_message(fields, source=SOURCE, provider_id=verdict.nonce, stored=stored)
    try:
        result: CommitResult = await request.app[K.PIPELINE].accept(message, content=verdict.nonce.encode())
    except IntakeError as exc:
        log.warning("web form could not be stored", extra={"error": exc.code})
        return message_page(request, lang, "error_title", "error_text", exc.status, link_form=True)
    log.info(
        "web form accepted",
        extra={"request_id": result.request_id, "duplicate": result.duplicate, "spooled": result.spooled},
    )
    # 303: the browser follows with a GET, so reloading the status page never posts the form again.
    location = f"/status/{make_token(key, result.request_id)}?new=1"
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
