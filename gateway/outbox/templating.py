"""Jinja2 environments: reply templates (plain text, per event/channel/language) and web pages (HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from gateway.intake.languages import language_code

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"


def page_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR / "pages"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def reply_env() -> jinja2.Environment:
    # Replies are plain text (SMS, status page text, email text part): no HTML escaping, but every
    # placeholder must be defined, so a template can never go out with a hole in it.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Rendered:
    template: str
    language: str
    subject: str
    text: str


class TemplateMissing(LookupError):
    pass


PLAIN = "plain"  # the event's channel-independent wording: a channel with no templates of its own reads these


def candidates(event: str, channel: str, language: str, default_language: str) -> list[str]:
    """templates/<event>/<channel>.<lang>.j2, then the default language, then the language-less one; then the
    same for the event's plain template, so a new channel works before anyone writes words for it.

    A BCP-47 tag is reduced to its language first: es-MX reads the es templates, zh-Hans-CN the zh ones.
    """
    language = language_code(language) or default_language
    default_language = language_code(default_language) or default_language
    names = [
        f"{event}/{name}.{lang}j2" for name in (channel, PLAIN) for lang in (f"{language}.", f"{default_language}.", "")
    ]
    return list(dict.fromkeys(names))


def render_reply(
    env: jinja2.Environment, event: str, channel: str, language: str, default_language: str, context: dict[str, Any]
) -> Rendered:
    for name in candidates(event, channel, language, default_language):
        try:
            tpl = env.get_template(name)
        except jinja2.TemplateNotFound:
            continue
        module = tpl.make_module(context)
        text = str(module).strip()
        if not text:
            raise ValueError(f"template {name} rendered empty")
        lang = name.rsplit(".", 2)[-2] if name.count(".") == 2 else default_language
        return Rendered(name, lang, str(getattr(module, "subject", "")).strip(), text)
    raise TemplateMissing(f"no template for event {event!r} on channel {channel!r}")
