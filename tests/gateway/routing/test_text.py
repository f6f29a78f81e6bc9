"""Keyword text helpers: the fast word split agrees with the regex it replaces."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.text import fold, words


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_ascii_words_are_what_a_word_regex_finds(text: str) -> None:
    folded = fold(text)
    assert words(folded) == frozenset(re.findall(r"\w+", folded))


@given(st.text())
def test_any_text_splits_into_what_a_word_regex_finds(text: str) -> None:
    folded = fold(text)
    assert words(folded) == frozenset(re.findall(r"\w+", folded))


def test_punctuation_and_underscores_split_as_the_regex_does() -> None:
    assert words("wi-fi's down_now, (lab #5)!") == {"wi", "fi", "s", "down_now", "lab", "5"}
