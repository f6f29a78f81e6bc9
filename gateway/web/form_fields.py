"""The web form's fields: posted values -> the JSON hook's payload, and channel errors -> words beside each field.

Validation itself belongs to the webform channel; this module only checks what must be present, so a
family sees every missing answer at once rather than one per round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import Settings
from gateway.web.i18n import Words

TEXT_FIELDS = ("name", "email", "phone", "category", "school", "message", "language")
# The order errors are listed in the summary: the order of the fields on the page.
ERROR_ORDER = ("form", "name", "contact", "email", "phone", "category", "school", "message", "attachment", "language")
MAX_NAME = 200
MAX_MESSAGE = 20_000


@dataclass
class Submission:
    values: dict[str, str]
    # field -> string key of the error text (translated when the page is rendered)
    errors: dict[str, str] = field(default_factory=dict)


def values_from(posted: Mapping[str, object]) -> dict[str, str]:
    """The text answers as posted; anything that is not text (a stray file in a text field) counts as empty."""
    out = {}
    for name in TEXT_FIELDS:
        value = posted.get(name)
        out[name] = value if isinstance(value, str) else ""
    return out


def required_errors(values: Mapping[str, str]) -> dict[str, str]:
    errors = {}
    if not values["email"].strip() and not values["phone"].strip():
        errors["contact"] = "err_contact"
    if not values["category"]:
        errors["category"] = "err_category"
    if not values["message"].strip():
        errors["message"] = "err_message"
    return errors


def to_payload(sub: Submission, page_lang: str) -> dict[str, Any]:
    """The same payload the JSON hook takes, so the channel validates both paths identically. The file is not
    in it: the page streams it to the blob store (gateway/web/form_upload.py) and checks its size there."""
    v = sub.values
    payload: dict[str, Any] = {
        "name": v["name"],
        "email": v["email"] or None,
        "phone": v["phone"] or None,
        "category": v["category"],
        "school": v["school"] or None,
        "message": v["message"],
        "language": v["language"] or page_lang,
    }
    return payload


def probe(payload: dict[str, Any], errors: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    """The payload with stand-ins where a required answer is already known to be missing.

    The channel stops at the first stage that fails (a missing category hides a mistyped email), so
    the stand-ins let it report every other problem in the same round trip. Never committed.
    """
    filled = dict(payload)
    categories = settings.channels.webform.categories
    if "category" in errors and categories:
        filled["category"] = categories[0].id
    if "message" in errors:
        filled["message"] = "-"
    return filled


def channel_errors(problems: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The channel names fields as the JSON payload does; map each to the page's field and a plain sentence.

    The channel's own wording is English for integrators, so the sentence is chosen from which field
    failed and what was typed, never parsed out of its message.
    """
    errors: dict[str, str] = {}
    for key in problems:
        top = key.split(".", 1)[0]
        if top == "email":
            if values["email"].strip():
                errors["email"] = "err_email"
            else:
                errors["contact"] = "err_contact"
        elif top == "message":
            errors["message"] = "err_message_long" if len(values["message"]) > MAX_MESSAGE else "err_message"
        elif top == "attachments":
            errors["attachment"] = "err_attachment_invalid"
        elif top in ("name", "phone", "category", "school", "language"):
            errors[top] = f"err_{top}"
        else:
            errors["form"] = "err_other"
    return errors


def choices(settings: Settings, lang: str) -> dict[str, list[tuple[str, str]]]:
    """Categories and schools in the page language (the operators' words for parents), and reply languages."""
    conf = settings.channels.webform

    def label(labels: Mapping[str, str], fallback: str) -> str:
        return labels.get(lang) or labels.get(settings.default_language) or labels.get("en") or fallback

    return {
        "categories": [(c.id, label(c.label, c.id)) for c in conf.categories],
        "schools": [(s.id, label(s.label, s.id)) for s in conf.schools],
        "reply_languages": list(conf.languages.items()),
    }


def form_context(
    settings: Settings,
    words: Words,
    sub: Submission | None,
    token: str,
    *,
    file_dropped: bool = False,
    expired: bool = False,
) -> dict[str, Any]:
    lang = words.lang
    conf = settings.channels.webform
    values = dict(sub.values) if sub else dict.fromkeys(TEXT_FIELDS, "")
    if not values["language"]:
        values["language"] = lang if lang in conf.languages else settings.default_language
    errors = sub.errors if sub else {}
    mb = max(1, conf.max_attachment_bytes // (1024 * 1024))
    messages = {k: words.fmt(v, mb=mb) for k, v in errors.items()}
    return {
        **choices(settings, lang),
        "values": values,
        "errors": messages,
        "error_list": [(k, messages[k]) for k in ERROR_ORDER if k in messages],
        "token": token,
        "mb": mb,
        "max_name": MAX_NAME,
        "max_message": MAX_MESSAGE,
        "action": f"/form?lang={lang}",
        "file_dropped": file_dropped,
        "expired": expired,
    }
