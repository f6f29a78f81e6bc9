"""Reading a texted rating in the four reply languages; a number that is no rating; a sentence that is none."""

from __future__ import annotations

import pytest

from gateway.surveys.ratings import Reading, read_rating


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", 5), (" 4 ", 4), ("1!", 1), ("3.", 3), ("５", 5), ("2 thanks", 2), ("5 gracias", 5),
        ("five", 5), ("Four", 4), ("one", 1),  # English
        ("cinco", 5), ("Uno", 1), ("cuatro!", 4), ("tres", 3),  # Spanish
        ("năm", 5), ("bốn", 4), ("một", 1), ("mot", 1), ("ba", 3), ("hai", 2),  # Vietnamese
        ("五", 5), ("四分", 4), ("一", 1), ("三星", 3), ("两", 2),  # Chinese
    ],
)  # fmt: skip
def test_a_rating_is_read_in_every_reply_language(text: str, rating: int) -> None:
    assert read_rating(text) == Reading(rating=rating)


@pytest.mark.parametrize("text", ["0", "6", "7", "10", "99!", "-1 "])
def test_a_number_outside_one_to_five_is_told_apart(text: str) -> None:
    reading = read_rating(text)
    assert reading.out_of_range == (text.strip() != "-1")
    assert reading.rating is None


@pytest.mark.parametrize(
    "text",
    ["", "   ", "The bus was late again today", "10 minutes late again this morning", "nam", "thanks", "gracias",
     "谢谢你们的帮助", "一般", "一点也不好", "5 stars for the driver, the bus was on time"],
)  # fmt: skip
def test_a_text_that_is_no_rating_is_no_rating(text: str) -> None:
    assert read_rating(text) == Reading()
