"""Rendering a page: the template, the page language, and the security headers every page carries."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server import appkeys as K
from gateway.web.assets import CSS_HREF
from gateway.web.i18n import Words
from gateway.web.strings import STRINGS

# No script runs on these pages at all; styles come from our own /static route, never inline.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
BASE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Pages carry a one-time form token or a private status link: never keep them in a shared cache.
    "Cache-Control": "no-store",
}


def language_links(path: str, current: str) -> list[dict[str, str]]:
    """The switcher: one link per other page language, named in its own language."""
    return [
        {"lang": lang, "name": words["language_name"], "href": f"{path}?lang={lang}"}
        for lang, words in STRINGS.items()
        if lang != current
    ]


def page(
    request: web.Request,
    template: str,
    lang: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    private: bool = False,
) -> web.Response:
    """Render `template` in `lang`. A private page's URL is its secret: no referrer, no indexing."""
    env = request.app[K.TEMPLATES]
    words = Words(lang, zone=request.app[K.SETTINGS].zone)
    html = env.get_template(template).render(
        t=words,
        lang=lang,
        languages=language_links(request.path, lang),
        private=private,
        css_href=CSS_HREF,
        **context,
    )
    headers = dict(BASE_HEADERS)
    headers["Referrer-Policy"] = "no-referrer" if private else "same-origin"
    headers["Content-Language"] = lang
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=headers)


def message_page(
    request: web.Request,
    lang: str,
    title: str,
    text: str,
    status: int,
    *,
    notes: tuple[str, ...] = (),
    values: dict[str, object] | None = None,
    link_form: bool = False,
    private: bool = False,
) -> web.Response:
    """A short page that explains a refusal or an outage in words, never a stack trace.

    `title`, `text` and `notes` are string keys; `values` fill their placeholders.
    """
    context = {"title_key": title, "text_key": text, "notes": notes, "values": values or {}, "link_form": link_form}
    return page(request, "message.html", lang, context, status=status, private=private)
