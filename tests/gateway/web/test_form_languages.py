"""A family can use the web form in Vietnamese or Chinese, and is answered in the language they pick."""

from __future__ import annotations

import pytest

from gateway.web.strings import STRINGS
from tests.conftest import Gateway
from tests.gateway.web.forms import answers, open_form, post_form


@pytest.mark.parametrize(
    ("query", "accept", "lang", "submit", "category", "school"),
    [
        ("?lang=vi", None, "vi", "Gửi yêu cầu", "Xe buýt và đưa đón", "Trường Trung học Lincoln"),
        ("", "zh-Hans-CN,zh;q=0.9", "zh", "提交请求", "校车和交通", "林肯高中"),
    ],
)
async def test_the_form_is_in_vietnamese_or_chinese_with_the_operators_labels(
    gateway: Gateway, query: str, accept: str | None, lang: str, submit: str, category: str, school: str
) -> None:
    page = await open_form(gateway, query, headers={"Accept-Language": accept} if accept else None)
    assert f'<html lang="{lang}">' in page.html
    assert submit in page.html
    assert category in page.html and school in page.html


async def test_the_form_offers_all_four_reply_languages_each_in_its_own_words(gateway: Gateway) -> None:
    page = await open_form(gateway)
    for lang in ("en", "es", "vi", "zh"):
        assert f'value="{lang}"' in page.html
    assert "Tiếng Việt" in page.html and "中文（简体）" in page.html


@pytest.mark.parametrize("lang", ["vi", "zh"])
async def test_a_request_sent_in_vietnamese_or_chinese_lands_on_a_thank_you_page_in_it(
    gateway: Gateway, lang: str
) -> None:
    page = await open_form(gateway, f"?lang={lang}")
    resp = await post_form(gateway, answers(language=lang), token=page.token, cookie=page.cookie, query=f"?lang={lang}")
    assert resp.status == 303
    status_page = await gateway.http.get(gateway.base + resp.headers["Location"])
    html = await status_page.text()
    assert f'<html lang="{lang}">' in html
    assert STRINGS[lang]["thanks_title"] in html
