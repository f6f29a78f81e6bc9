# Full-width digits and Chinese punctuation are what families type: ruff's look-alike checks are off here.
# ruff: noqa: RUF001, RUF002, RUF003
"""Reading a rating out of a text message: a digit 1-5 or the word for it, in English, Spanish, Vietnamese or
Chinese. Pure functions.

A family answers "5", "5!", "５" (a full-width digit from a Chinese keyboard), "five", "cinco", "năm", "五" or
"5 gracias" (three words at most: a longer text is a sentence). A number that is no rating ("0", "7", "10") is
told apart from a text that is no number at all, so the first gets "reply 1 to 5" and the second is treated as
what it is (a comment, or a new request).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The words for 1-5 per language, folded (lower case, accents kept where they tell words apart: "năm" is five,
# "nam" is south). Vietnamese "một" is written "mot" without its marks on many phones: both are read.
WORDS: dict[str, dict[str, int]] = {
    "en": {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5},
    "es": {"uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5},
    "vi": {"một": 1, "mot": 1, "hai": 2, "ba": 3, "bốn": 4, "bon": 4, "năm": 5},
    "zh": {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5},
}
_ALL_WORDS = {w: n for words in WORDS.values() for w, n in words.items()}
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,3})(?!\d)")
_FIRST_WORD = re.compile(r"^\s*([^\s.,!?;:。，！？]+)")
# The numeral alone or with 分/星 ("四分", "五星"): "一般" (so-so) or "一点" start with a numeral and are no rating.
_HAN_RATING = re.compile(r"^\s*([一二两三四五])\s*(分|星|颗星)?\s*[。！!.]*\s*$")


@dataclass(frozen=True, slots=True)
class Reading:
    """`rating` 1-5; or `out_of_range` when the text is a number but not 1-5; neither when it is no number."""

    rating: int | None = None
    out_of_range: bool = False


def read_rating(text: str) -> Reading:
    folded = unicodedata.normalize("NFKC", text).strip().lower()  # NFKC: full-width "５" is "5"
    if not folded or len(folded.split()) > 3:
        return Reading()  # a sentence is a comment or a request, even when it starts with a number
    m = _LEADING_NUMBER.match(folded)
    if m:
        value = int(m.group(1))
        return Reading(rating=value) if 1 <= value <= 5 else Reading(out_of_range=True)
    han = _HAN_RATING.match(folded)
    if han:
        return Reading(rating=_ALL_WORDS[han.group(1)])
    word = _FIRST_WORD.match(folded)
    if word and word.group(1) in _ALL_WORDS:
        return Reading(rating=_ALL_WORDS[word.group(1)])
    return Reading()
