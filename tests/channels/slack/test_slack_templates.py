"""Slack reply templates: every event in en, es, vi and zh, no placeholder left, every status in words."""

from __future__ import annotations

import re
from itertools import product

import pytest

from gateway.outbox.templating import TEMPLATE_DIR, render_reply, reply_env

EVENTS = ["received", "status_changed", "resolved"]
LANGUAGES = ["en", "es", "vi", "zh"]
STATUSES = ["new", "open", "in_progress", "waiting", "resolved", "closed"]
CONTEXT = {"ticket": "1234", "reference": "K7QM-2XPA", "status_url": "https://help.example.org/status/abc.def",
           "status": "in_progress", "comment": "A technician is on the way.", "category": "transportation"}  # fmt: skip


@pytest.mark.parametrize(("event", "language"), list(product(EVENTS, LANGUAGES)))
def test_every_slack_event_renders_in_every_language(event: str, language: str) -> None:
    assert (TEMPLATE_DIR / event / f"slack.{language}.j2").exists()
    rendered = render_reply(reply_env(), event, "slack", language, "en", CONTEXT)
    assert rendered.language == language
    assert "#1234" in rendered.text
    assert not re.search(r"\{\{|\}\}|\{%|%\}", rendered.text)
    assert "/status/" not in rendered.text  # the thread is the status page on Slack


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_has_its_own_words(language: str) -> None:
    texts = {
        render_reply(reply_env(), "status_changed", "slack", language, "en", {**CONTEXT, "status": s}).text
        for s in STATUSES
    }
    assert len(texts) == len(STATUSES)
    assert not any("_" in t for t in texts)


def test_the_acknowledgement_names_the_category_when_there_is_one() -> None:
    assert render_reply(reply_env(), "received", "slack", "en", "en", CONTEXT).text.startswith(
        "Got it: request #1234, Transportation."
    )
    without = {k: v for k, v in CONTEXT.items() if k != "category"}
    assert render_reply(reply_env(), "received", "slack", "en", "en", without).text.startswith("Got it: request #1234.")
