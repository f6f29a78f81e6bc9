"""GET /form and POST /form: the web form a family fills in, without JavaScript, in their language."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from multidict import MultiDictProxy

from gateway.errors import IntakeError, Unprocessable
from gateway.models import InboundMessage
from gateway.server import appkeys as K
from gateway.store.commit import CommitResult
from gateway.web import csrf
from gateway.web.form_fields import (
    Submission,
    Upload,
    channel_errors,
    form_context,
    probe,
    required_errors,
    to_payload,
    values_from,
)
from gateway.web.i18n import Words, choose, from_accept_language
from gateway.web.render import message_page, page
from gateway.web.status_links import make_token
from normalizers.webform import FormFields

log = logging.getLogger("intake.web.form")

SOURCE = "web"
FILE_FIELD = "attachment"


@runtime_checkable
class FormChannel(Protocol):
    """What the page needs of the webform channel (kept structural: gateway code does not import channels)."""

    def parse(self, payload: object) -> FormFields: ...

    def to_message(self, fields: FormFields, source: str, provider_id: str | None) -> InboundMessage: ...


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


async def _read_post(request: web.Request) -> MultiDictProxy[Any] | web.Response:
    lang = page_language(request)
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        mb = max(1, request.app[K.SETTINGS].channels.webform.max_attachment_bytes // (1024 * 1024))
        return message_page(request, lang, "too_large_title", "too_large_text", 413, values={"mb": mb}, link_form=True)
    except (ValueError, web.HTTPBadRequest):
        # Not a form a browser would send (nested multipart, a part without a name, thousands of fields).
        return message_page(request, lang, "forbidden_title", "forbidden_text", 400, link_form=True)


async def _upload(posted: MultiDictProxy[Any]) -> Upload | None:
    """The chosen file, or None when none was chosen (browsers still send an empty, nameless part)."""
    item = posted.get(FILE_FIELD)
    if not isinstance(item, web.FileField) or not item.filename:
        return None
    # Past 1 MiB aiohttp has spilled the file to disk: read it off the event loop.
    data = await asyncio.get_running_loop().run_in_executor(None, item.file.read)
    return Upload(item.filename, item.content_type, data) if data else None


def _had_file(posted: MultiDictProxy[Any]) -> bool:
    item = posted.get(FILE_FIELD)
    return isinstance(item, web.FileField) and bool(item.filename)


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
    posted = await _read_post(request)
    if isinstance(posted, web.Response):
        return posted
    token = posted.get("csrf")
    verdict = csrf.verify(key, cookie, token if isinstance(token, str) else "", time.time())
    if verdict.check is csrf.Check.INVALID:
        log.info("web form refused: missing or invalid form token")
        return _forbidden(request, lang)
    sub = Submission(values_from(posted), await _upload(posted))
    fresh = csrf.issue(key, cookie, time.time(), nonce=verdict.nonce)
    if verdict.check is csrf.Check.EXPIRED:
        # Genuine and from this browser, only old: give the family their answers back rather than a dead end.
        return _render_form(request, lang, sub, fresh, 403, expired=True, file_dropped=sub.upload is not None)

    limit = settings.channels.webform.max_attachment_bytes
    sub.errors = required_errors(sub.values)
    if sub.upload is not None and len(sub.upload.data) > limit:
        sub.errors["attachment"] = "err_attachment"
        sub.upload = None
    fields: FormFields | None = None
    payload = to_payload(sub, lang)
    try:
        fields = channel.parse(probe(payload, sub.errors, settings) if sub.errors else payload)
    except Unprocessable as exc:
        problems = exc.detail.get("fields", {})
        sub.errors = {**channel_errors(problems, sub.values), **sub.errors} or {"form": "err_other"}
    if sub.errors or fields is None:
        return _render_form(request, lang, sub, fresh, 422, file_dropped=_had_file(posted))

    message = channel.to_message(fields, source=SOURCE, provider_id=verdict.nonce)
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
