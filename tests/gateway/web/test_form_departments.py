"""The shipped config serves HR and communications as well as IT and transportation (issue 15).

A family picks "A question about a job or my paycheck" or "News, the website or a school message" on the form,
in their language, and the shipped rules put the request in the HR or communications queue of the built-in store.
"""

from __future__ import annotations

import pytest

from gateway.tickets import TicketQuery, TicketStore
from tests.conftest import Gateway, form
from tests.gateway.web.forms import open_form
from tests.support.inprocess import work_here

LABELS = {
    "jobs": {
        "en": "A question about a job or my paycheck",
        "es": "Una pregunta sobre un empleo o mi cheque de pago",
        "vi": "Câu hỏi về việc làm hoặc tiền lương của tôi",
        "zh": "关于工作或我的工资的问题",
    },
    "news": {
        "en": "News, the website or a school message",
        "es": "Noticias, el sitio web o un mensaje de la escuela",
        "vi": "Tin tức, trang web hoặc tin nhắn của trường",
        "zh": "新闻、网站或学校的消息",
    },
}


@pytest.mark.parametrize("lang", ["en", "es", "vi", "zh"])
async def test_the_form_offers_hr_and_communications_categories_in_each_language(gateway: Gateway, lang: str) -> None:
    page = await open_form(gateway, f"?lang={lang}")
    for category, label in LABELS.items():
        assert f'value="{category}"' in page.html
        assert label[lang] in page.html


async def test_the_shipped_rules_put_job_and_news_requests_in_the_hr_and_communications_queues(
    gateway: Gateway,
) -> None:
    jobs = form(category="jobs", email="a@example.org", message="My paycheck for November is short two days.")
    news = form(category="news", email="b@example.org", message="The school website lists the wrong concert date.")
    for payload in (jobs, news):
        assert (await gateway.post_form(payload)).status == 202
    work_here(gateway.settings)
    store = TicketStore.from_settings(gateway.settings)
    try:
        tickets = list(store.export(TicketQuery()))
        assert sorted((t.category, t.queue) for t in tickets) == [("jobs", "hr"), ("news", "communications")]
    finally:
        store.close()
