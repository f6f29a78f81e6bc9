"""Every reply template renders, in every language, with no placeholder left and nothing empty."""

from __future__ import annotations

import re
from itertools import product

import jinja2
import pytest

from gateway.templating import TEMPLATE_DIR, TemplateMissing, render_reply, reply_env

EVENTS = ["received", "status_changed", "resolved", "after_hours"]
CHANNELS = ["webform", "email"]
LANGUAGES = ["en", "es"]
STATUSES = ["new", "open", "in_progress", "waiting", "resolved", "closed"]

CONTEXT = {
    "ticket": "1234",
    "reference": "K7QM-2XPA",
    "status_url": "https://help.example.org/status/abc.def",
    "status": "in_progress",
    "comment": "A technician is on the way.",
}


@pytest.mark.parametrize(("event", "channel", "language"), list(product(EVENTS, CHANNELS, LANGUAGES)))
def test_every_event_has_every_language_for_every_channel(event: str, channel: str, language: str) -> None:
    assert (TEMPLATE_DIR / event / f"{channel}.{language}.j2").exists()
    rendered = render_reply(reply_env(), event, channel, language, "en", CONTEXT)
    assert rendered.language == language
    assert rendered.text
    assert not re.search(r"\{\{|\}\}|\{%|%\}", rendered.text + rendered.subject)
    if channel == "email":
        assert "[#1234]" in rendered.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_has_its_own_words_in_every_language(language: str) -> None:
    texts = {
        render_reply(reply_env(), "status_changed", "webform", language, "en", {**CONTEXT, "status": s}).text
        for s in STATUSES
    }
    assert len(texts) == len(STATUSES)
    assert not any("_" in t for t in texts)  # never a raw code such as in_progress


def test_a_missing_placeholder_fails_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_reply(reply_env(), "received", "webform", "en", "en", {})


def test_an_unknown_language_falls_back_to_the_default() -> None:
    rendered = render_reply(reply_env(), "received", "webform", "tlh", "en", CONTEXT)
    assert rendered.language == "en"
    assert rendered.template == "received/webform.en.j2"


def test_an_unknown_event_is_an_error() -> None:
    with pytest.raises(TemplateMissing):
        render_reply(reply_env(), "teleported", "webform", "en", "en", CONTEXT)
