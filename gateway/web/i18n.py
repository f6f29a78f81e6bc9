"""Page language: choosing it (query, conversation, Accept-Language, default) and the words in it."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.web.strings import STRINGS

FALLBACK = "en"
# Fields a language's time_format may use; its word order differs per language, so its placeholders may too.
TIME_FIELDS = frozenset({"day", "month", "year", "hour12", "hour24", "minute", "ampm"})
STATUS_KEYS = ("received", "new", "open", "in_progress", "waiting", "resolved", "closed")


def supported(lang: str | None) -> str | None:
    """The page language for a tag like 'es-MX', or None when we have no pages in it."""
    if not lang:
        return None
    primary = lang.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in STRINGS else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language in an Accept-Language header, honouring q-values (q=0 means 'not this')."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, position, tag))
    for _, _, tag in sorted(ranked):
        lang = supported(tag)
        if lang:
            return lang
    return None


def choose(*candidates: str | None, default: str) -> str:
    """The first supported candidate, else the configured default, else English."""
    for c in candidates:
        lang = supported(c)
        if lang:
            return lang
    return supported(default) or FALLBACK


class Words:
    """The strings of one page language, usable from templates as `t.key` or `t.fmt("key", x=...)`."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._strings = STRINGS[lang]

    def __getattr__(self, key: str) -> str:
        try:
            return self._strings[key]
        except KeyError:
            raise AttributeError(key) from None

    def fmt(self, key: str, **values: object) -> str:
        return self._strings[key].format(**values)

    def status(self, status: str) -> str:
        return self._strings[f"st_{status}"] if status in STATUS_KEYS else self._strings["st_unknown"]

    def time(self, iso: str) -> str:
        """A timeline time a parent can read; the raw value when it is not a timestamp."""
        try:
            at = datetime.fromisoformat(iso)
        except ValueError:
            return iso
        at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        months = self._strings["months"].split()
        hour12 = at.hour % 12 or 12
        return self._strings["time_format"].format(
            day=at.day,
            month=months[at.month - 1],
            year=at.year,
            hour12=hour12,
            hour24=f"{at.hour:02d}",
            minute=f"{at.minute:02d}",
            ampm="AM" if at.hour < 12 else "PM",
        )
