"""How staff pages name a value kept as an id: a department (queue) and a school by the configuration's names, a
language by its name in the staff pages' words ("vi" is "Vietnamese"). A leader reads "Human Resources", not `hr`.

Each falls back to something a person can still read: the name in English, then (for a language) the name the web
form gives it in its own tongue, then the id itself, so a queue or a language added later never shows blank.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.settings import Settings

FALLBACK = "en"


def _pick(names: Mapping[str, str], lang: str) -> str:
    return names.get(lang) or names.get(FALLBACK) or next(iter(names.values()), "")


def department_name(settings: Settings, queue: str, lang: str) -> str:
    """`hr` as "Human Resources" (`desk.departments`), or the queue's id when it has no name."""
    return _pick(settings.desk.departments.get(queue, {}), lang) or queue


def school_name(settings: Settings, school: str, lang: str) -> str:
    """`lhs` as "Lincoln High School" (the web form's schools), or the school's id when it has no name."""
    found = next((s for s in settings.channels.webform.schools if s.id == school), None)
    return (_pick(found.label, lang) if found else "") or school


def language_name(settings: Settings, words: Mapping[str, str], code: str) -> str:
    """`vi` (or `vi-VN`) as "Vietnamese" from `words` (`language_vi`), else the web form's own name for it, else
    the code."""
    primary = code.split("-", 1)[0].lower()
    for key in (f"language_{code}", f"language_{primary}"):
        if words.get(key):
            return words[key]
    form = settings.channels.webform.languages
    return form.get(code) or form.get(primary) or code


def value_name(settings: Settings, words: Mapping[str, str], kind: str, value: str, lang: str) -> str:
    """A stored value of a report's or table's dimension (`department`/`queue`, `school`, `language`) in words;
    any other kind is left as it is (the caller words channels, statuses and priorities)."""
    if kind in ("department", "queue"):
        return department_name(settings, value, lang)
    if kind == "school":
        return school_name(settings, value, lang)
    if kind == "language":
        return language_name(settings, words, value)
    return value


def namer(settings: Settings, words: Mapping[str, str], lang: str) -> Callable[[str, str | None], str]:
    """`name_of(kind, value)` for a page's template: `value_name` in this page's language ("" for no value)."""

    def name_of(kind: str, value: str | None) -> str:
        return value_name(settings, words, kind, value, lang) if value else ""

    return name_of
