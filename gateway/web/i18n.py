"""Page language: choosing it (query, conversation, Accept-Language, default) and the words in it."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

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
    """The strings of one page language, usable from templates as `t.key` or `t.fmt("key", x=...)`.

    `catalog` is the requester-facing pages' STRINGS unless another is given (the staff pages have their own);
    a key a language lacks is read in English. Times are shown in `zone`: the district's, never UTC.
    """

    def __init__(self, lang: str, catalog: dict[str, dict[str, str]] | None = None, zone: tzinfo = UTC) -> None:
        catalog = STRINGS if catalog is None else catalog
        self.lang = lang if lang in catalog else FALLBACK
        self._strings = catalog[self.lang]
        self._fallback = catalog[FALLBACK]
        self.zone = zone

    def _get(self, key: str) -> str:
        found = self._strings.get(key)
        return self._fallback[key] if found is None else found

    def __getattr__(self, key: str) -> str:
        try:
            return self._get(key)
        except KeyError:
            raise AttributeError(key) from None

    def fmt(self, key: str, **values: object) -> str:
        return self._get(key).format(**values)

    def status(self, status: str) -> str:
        return self._strings[f"st_{status}"] if status in STATUS_KEYS else self._strings["st_unknown"]

    def time(self, iso: str) -> str:
        """A timeline time a parent can read, in the district's time zone; the raw value when it is not one."""
        try:
            at = datetime.fromisoformat(iso)
        except ValueError:
            return iso
        return self.when(at)

    def when(self, at: datetime) -> str:
        """A time as a person reads it: in the district's zone and this language's order ("Nov 22, 2025 at
        9:05 AM"). A time without a zone is UTC, as the gateway stores every time."""
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(self.zone)
        months = self._get("months").split()
        hour12 = at.hour % 12 or 12
        return self._get("time_format").format(
            day=at.day,
            month=months[at.month - 1],
            year=at.year,
            hour12=hour12,
            hour24=f"{at.hour:02d}",
            minute=f"{at.minute:02d}",
            ampm="AM" if at.hour < 12 else "PM",
        )
