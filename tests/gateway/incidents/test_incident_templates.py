"""The incident message renders on every channel in every language, with nothing left unfilled."""

from __future__ import annotations

import re
from itertools import product

import pytest

from gateway.outbox.templating import TEMPLATE_DIR, render_reply, reply_env

CONTEXT = {
    "ticket": "1234",
    "reference": "K7QM-2XPA",
    "status_url": "https://help.example.org/status/abc.def",
    "status": "in_progress",
    "comment": "Technicians are on site.",
    "incident_title": "Wi-Fi down at Lincoln High",
}


@pytest.mark.parametrize(("channel", "language"), list(product(["webform", "email"], ["en", "es"])))
def test_the_incident_message_names_the_incident_and_its_status_in_every_language(channel: str, language: str) -> None:
    assert (TEMPLATE_DIR / "incident_update" / f"{channel}.{language}.j2").exists()
    rendered = render_reply(reply_env(), "incident_update", channel, language, "en", CONTEXT)
    assert rendered.language == language
    assert "Wi-Fi down at Lincoln High" in rendered.text
    assert "Technicians are on site." in rendered.text
    assert "in_progress" not in rendered.text  # the status in words, never its code
    assert not re.search(r"\{\{|\}\}|\{%|%\}", rendered.text + rendered.subject)
    if channel == "email":
        assert rendered.subject.endswith("[#1234]")
