"""The staff pages' words: every key a template uses exists in English, and a translation keeps the placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from gateway.accounts.roles import RANK
from gateway.web.staff.shell import NAV
from gateway.web.staff.strings import STAFF_STRINGS
from tests.support.gateway import REPO

TEMPLATES = REPO / "templates" / "pages" / "staff"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_a_translation_uses_only_english_keys_and_the_same_placeholders() -> None:
    english = STAFF_STRINGS["en"]
    for lang, words in STAFF_STRINGS.items():
        assert set(words) <= set(english), f"{lang}: keys English lacks: {set(words) - set(english)}"
        for key, text in words.items():
            if key not in ("time_format", "date_format"):
                assert _placeholders(text) == _placeholders(english[key]), f"{lang}.{key}"


def test_every_word_a_staff_template_names_is_in_english() -> None:
    used: set[str] = set()
    for path in Path(TEMPLATES).glob("*.html"):
        source = path.read_text()
        used |= set(re.findall(r"\bt\.([a-z_]+)\b", source)) - {"fmt", "when", "time", "lang", "zone"}
        used |= set(re.findall(r't\.fmt\("([a-z_]+)"\)', source)) | set(re.findall(r't\.fmt\("([a-z_]+)",', source))
    assert used, "no words found: the test would prove nothing"
    used |= {f"role_{role}" for role in RANK} | {"source_local", "source_ldap"}  # keys the templates build
    used |= {key.replace("nav_", "home_") for _, key, _ in NAV} | {key for _, key, _ in NAV}
    assert sorted(used - set(STAFF_STRINGS["en"])) == []
