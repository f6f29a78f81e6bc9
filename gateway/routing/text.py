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
import re
import unicodedata
from dataclasses import dataclass

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


_WORD = re.compile(r"\w+")


# Every ASCII byte that is not a word character (what `\w` does not match) -> a space.
_ASCII_NON_WORD = bytes(b if chr(b).isalnum() or b == 0x5F or b > 0x7F else 0x20 for b in range(256))


def words(folded: str) -> frozenset[str]:
    """The words of a folded text, for the keyword pre-check (the same words as a `\\w+` scan finds)."""
    if folded.isascii():  # most requests: a byte translate and a split cost a quarter of a regex scan
        return frozenset(folded.encode().translate(_ASCII_NON_WORD).decode().split())
    return frozenset(_WORD.findall(folded))


@dataclass(frozen=True)
class _Keyword:
    text: str  # folded
    words: tuple[str, ...]  # its words, every one of which a text must contain to match
    exact: re.Pattern[str] | None  # phrase or punctuation: confirms position and word boundaries


class KeywordMatcher:
    """Finds the first of a list of keywords in a text.

    A rule set may hold hundreds of keywords and every message meets all of them, so the common
    case (a keyword that is not there) costs a few set look-ups against the text's words; only a
    keyword whose words are all present is confirmed with a pattern.
    """

    def __init__(self, keywords: list[str]) -> None:
        self.keywords = keywords
        self._spaced: list[_Keyword] = []
        self._unspaced: list[str] = []
        for kw in keywords:
            folded = fold(kw.strip())
            if _spaced(folded[0]) and _spaced(folded[-1]):
                parts = tuple(_WORD.findall(folded))
                single = len(parts) == 1 and parts[0] == folded
                exact = None if single else re.compile(rf"(?<!\w){re.escape(folded)}(?!\w)")
                self._spaced.append(_Keyword(folded, parts, exact))
            else:
                self._unspaced.append(folded)

    def find(self, text: str) -> str | None:
        """The first keyword found in `text`, folded, or None."""
        folded = fold(text[:MAX_SEARCH_CHARS])
        return self.find_folded(folded, words(folded))

    def find_folded(self, folded: str, present: frozenset[str]) -> str | None:
        """The first keyword found in an already folded text whose words are `present`."""
        for kw in self._spaced:
            if present.issuperset(kw.words) and (kw.exact is None or kw.exact.search(folded)):
                return kw.text
        for kw_text in self._unspaced:
            if kw_text in folded:
                return kw_text
        return None


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
