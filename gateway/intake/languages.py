"""Which language a request is in, and which language we answer in.

`message.language` is the language of the request's text: lingua's (normalizers/email_language.py, one
detector for every channel) when the text is long enough to tell, else what the requester picked on a
form, else the directory's language for them, else the channel's (a mailbox's configured language), else
the default. `requester.locale` is the reply language: the requester's pick, else the language they just
wrote in, else the directory's, else the channel's, else the default, each only if we have replies in
it (a French message from a family the directory lists as Spanish is answered in Spanish).
"""

from __future__ import annotations

import functools
import re

from gateway.models import InboundMessage, LanguageSource
from normalizers.email_language import detect_language

REPLY_LANGUAGES = ("en", "es", "vi", "zh")
# Detection runs on the request path: ~0.6 ms for a short message, ~5 ms for 1,600 characters. The start
# of a message says which language it is in as surely as all of it does.
DETECT_SAMPLE = 500

# Directory exports often name the language instead of tagging it.
_NAMES = {
    "english": "en",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "vietnamese": "vi",
    "tiếng việt": "vi",
    "chinese": "zh",
    "mandarin": "zh",
    "cantonese": "zh",
    "chinese (simplified)": "zh",
    "chinese (traditional)": "zh",
    "中文": "zh",
    "简体中文": "zh",
}
_PRIMARY = re.compile(r"[a-z]{2,3}")


@functools.lru_cache(maxsize=1024)  # every request asks several times, nearly always about the same few tags
def language_code(value: str | None) -> str | None:
    """'es-MX' -> 'es', 'zh-Hans-CN' -> 'zh', 'Vietnamese' -> 'vi'; None when it names no language."""
    if not value:
        return None
    text = value.strip().casefold()
    if text in _NAMES:
        return _NAMES[text]
    primary = text.replace("_", "-").split("-", 1)[0]
    return primary if _PRIMARY.fullmatch(primary) else None


def reply_language(tag: str | None) -> str | None:
    """The reply language for a BCP-47 tag or a language name, or None when we have no replies in it.

    Every Chinese tag maps to zh: our Chinese replies are Simplified, still the closest a zh-Hant reader gets.
    """
    code = language_code(tag)
    return code if code in REPLY_LANGUAGES else None


def warm_up() -> None:
    """Load lingua's models now (about 2.5 s, once per process), so no request ever waits for it."""
    detect_language("Loading the language models before the first request arrives.")


def assign_language(
    message: InboundMessage, directory_language: str | None, default_language: str, *, detect: bool = True
) -> InboundMessage:
    """The message with its text language (and where it came from) and the requester's reply language.

    `detect=False` leaves the text's language to the worker (`detect_in_worker`): detection costs about
    half a millisecond of CPU, as much as the rest of the request path, and only routing on language
    needs it before the commit.
    """
    source = message.language_source
    own = language_code(message.language)
    may_detect = detect and source != "detected"
    detected = detect_language(message.text[:DETECT_SAMPLE]) if may_detect else (own if source == "detected" else None)
    chosen = own if source == "chosen" else None
    channel = own if source == "channel" else None
    directory = language_code(directory_language)
    explicit_locale = message.requester.locale if "locale" in message.requester.model_fields_set else None

    order: list[tuple[str | None, LanguageSource]] = [
        (detected, "detected"),
        (chosen, "chosen"),
        (directory, "directory"),
        (channel, "channel"),
    ]
    language, why = next(((lang, s) for lang, s in order if lang), (language_code(default_language) or "en", "default"))
    replies = [chosen, detected, directory, explicit_locale, channel, default_language]
    locale = next((r for r in map(reply_language, replies) if r), "en")
    if language == message.language and why == source and locale == message.requester.locale:
        return message  # the channel already said all of it (a form's chosen language): no copies
    requester = message.requester.model_copy(update={"locale": locale})
    return message.model_copy(update={"language": language, "language_source": why, "requester": requester})


def detect_in_worker(message: InboundMessage) -> InboundMessage:
    """The text's language, found after the commit when intake left it (`assign_language(detect=False)`).

    A detected language replaces the one intake assumed, and becomes the reply language unless the
    requester chose one: the same order as at intake, where a detection outranks the directory's and
    the channel's language.
    """
    if message.language_source == "detected":
        return message
    detected = detect_language(message.text[:DETECT_SAMPLE])
    if detected is None:
        return message
    if message.language_source == "chosen":
        return message.model_copy(update={"language": detected})  # the text's language; replies stay as chosen
    update: dict[str, object] = {"language": detected, "language_source": "detected"}
    reply = reply_language(detected)
    if reply is not None:
        update["requester"] = message.requester.model_copy(update={"locale": reply})
    return message.model_copy(update=update)
