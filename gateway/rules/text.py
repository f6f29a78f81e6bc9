"""Text matching for rules: accent- and case-insensitive keywords in any script, and regexes that cannot hang.

Keywords are folded (NFKD, marks dropped, casefolded) on both sides, so "contraseña" matches
"CONTRASENA". In scripts written with spaces a keyword matches whole words only ("lab" is not in
"collaborate"); in scripts written without them (Chinese, Japanese) it matches anywhere.

Operators' regexes run on the request path, so a pattern that backtracks catastrophically would
stall intake. Two guards: at load, a quantified group that itself contains a quantifier (the shape
of `(a+)+`) is refused; at run time every search carries a timeout (the `regex` package's), and a
search that runs out of time counts as no match and is logged.
"""

from __future__ import annotations

import logging
import unicodedata

import regex

log = logging.getLogger("intake.rules")

# The regex package checks its timeout in coarse steps, so the real bound is a few times this.
SEARCH_TIMEOUT_S = 0.02
# Only the start of a long text is searched: a rule is about what a request says up front.
MAX_SEARCH_CHARS = 20_000
_FLAGS = regex.IGNORECASE | regex.UNICODE | regex.V0


_MARKS = regex.compile(r"\p{M}+")


def fold(text: str) -> str:
    """Lower-case, accents removed, compatibility forms unified (full-width letters, ligatures)."""
    if text.isascii():  # most requests: nothing to decompose
        return text.lower()
    return _MARKS.sub("", unicodedata.normalize("NFKD", text)).casefold()


def _spaced(char: str) -> bool:
    # Below the CJK radicals block every script we serve separates words with spaces.
    return ord(char) < 0x2E80


class KeywordMatcher:
    """Finds the first of a list of keywords in a text; one precompiled alternation."""

    def __init__(self, keywords: list[str]) -> None:
        self.keywords = keywords
        parts = []
        for kw in keywords:
            folded = regex.escape(fold(kw.strip()))
            before = r"(?<!\w)" if _spaced(kw.strip()[0]) else ""
            after = r"(?!\w)" if _spaced(kw.strip()[-1]) else ""
            parts.append(f"{before}{folded}{after}")
        self.pattern = regex.compile("|".join(parts), _FLAGS)

    def find(self, text: str) -> str | None:
        # Literal alternations cannot backtrack catastrophically: no timeout needed.
        m = self.pattern.search(fold(text[:MAX_SEARCH_CHARS]))
        return m.group(0) if m else None


class UnsafePattern(ValueError):
    pass


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """Compile an operator's regex, refusing nested quantifiers. Raises UnsafePattern or regex.error."""
    if nested_quantifier(pattern):
        raise UnsafePattern(
            "a repeated group that itself repeats (like (a+)+) can take exponential time; rewrite it without nesting"
        )
    return regex.compile(pattern, _FLAGS)


def search(pattern: regex.Pattern[str], text: str, rule_id: str) -> str | None:
    """The matched text, or None. A search that runs out of time is no match (and a warning)."""
    try:
        m = pattern.search(text[:MAX_SEARCH_CHARS], timeout=SEARCH_TIMEOUT_S)
    except TimeoutError:
        log.warning("rule regex timed out: treated as no match", extra={"rule": rule_id})
        return None
    return m.group(0) if m else None


_QUANT_START = "*+?{"


def nested_quantifier(pattern: str) -> bool:
    """True when a quantified group contains an unbounded quantifier: `(a+)+`, `(\\w*x)*`, `(?:a|b+){2,}`."""
    stack: list[bool] = []  # per open group: does it contain a repeat?
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            i += 1
            continue
        if c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            stack.append(False)
        elif c == ")" and stack:
            inner = stack.pop()
            nxt = pattern[i + 1 : i + 2]
            if inner and nxt and nxt in _QUANT_START and not _bounded_small(pattern, i + 1):
                return True
            if stack and inner:
                stack[-1] = True
        elif stack and (c in "*+" or (c == "{" and not _bounded_small(pattern, i))):
            stack[-1] = True
        i += 1
    return False


def _bounded_small(pattern: str, at: int) -> bool:
    """`?` or `{n}` / `{n,m}` with a small upper bound cannot blow up; `*`, `+`, `{n,}` can."""
    if pattern[at] == "?":
        return True
    if pattern[at] != "{":
        return False
    end = pattern.find("}", at)
    body = pattern[at + 1 : end] if end > 0 else ""
    high = body.split(",")[-1].strip()
    return high.isdigit() and int(high) <= 10
