"""Language of a message's text, or None when unsure (the caller then uses the requester's or the default)."""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

# The languages of the district's families that lingua knows (it has no Haitian Creole). A small set keeps the
# detector fast and avoids confusing a parent's Spanish with Portuguese or Galician nobody here writes.
LANGUAGES = (
    Language.ENGLISH,
    Language.SPANISH,
    Language.VIETNAMESE,
    Language.CHINESE,
    Language.FRENCH,
    Language.ARABIC,
    Language.SOMALI,
)
# Measured with bench/language_threshold.py (32 short requests in en/es/vi/zh, cut to N letters): with the
# confidence floor below, 6 to 12 letters still gave ~3% wrong answers (Spanish and English read as Somali);
# from 16 letters none were wrong and only 2 of 32 abstained. Han characters carry more per character: two
# were already always right, four leaves a margin for a Chinese name inside a message in another language.
MIN_LETTERS = 16
MIN_CJK = 4
MIN_CONFIDENCE = 0.6
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|\d+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@cache
def _detector() -> LanguageDetector:
    # Built once per process, on first use: loading the models takes seconds.
    return LanguageDetectorBuilder.from_languages(*LANGUAGES).with_minimum_relative_distance(0.1).build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code ('en', 'es', 'vi', 'zh', ...) of the text, or None for short or ambiguous text."""
    sample = _NOISE.sub(" ", text[:2000])
    letters = sum(ch.isalpha() for ch in sample)
    if letters < MIN_LETTERS and len(_CJK.findall(sample)) < MIN_CJK:
        return None
    # One pass: the confidence values, best first (detect_language_of and then
    # compute_language_confidence would run the models twice).
    values = _detector().compute_language_confidence_values(sample)
    if not values or values[0].value < MIN_CONFIDENCE:
        return None
    return values[0].language.iso_code_639_1.name.lower()
