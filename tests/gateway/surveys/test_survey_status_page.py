"""The survey on the family's status page: the same five choices and a comment box, answered once, in the browser;
axe-core finds nothing serious on the status page's survey, its thanks, a survey link's pages after it, and a
link's comment form."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.async_api import expect

from gateway.models import utcnow
from gateway.surveys.links import make_token as survey_token
from gateway.web.status_links import make_token
from tests.conftest import Gateway
from tests.gateway.surveys.support import resolved, survey
from tests.support.browser import axe_violations, chromium, screenshot
from tests.support.redis_server import RedisServer

KEY = b"test-secret-key"


async def test_a_family_rates_and_comments_on_their_status_page_in_the_browser(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path, language="en")
    status_page = f"{gateway.base}/status/{make_token(KEY, conv)}"
    async with chromium() as browser:
        page = await browser.new_page(locale="en-US", bypass_csp=True)  # axe is injected into the page
        await page.goto(status_page)
        await expect(page.locator("#timeline")).to_contain_text("How did we do? Choose an answer from 1 to 5")
        found = {"status-survey": await axe_violations(page)}
        await screenshot(page, "family/status-survey")
        await page.get_by_label("4 - Good").check()
        await page.get_by_label("Anything else you want to tell us?").fill("Fast, thank you.")
        await page.get_by_role("button", name="Send my rating").click()
        await expect(page.get_by_role("heading", name="Thank you for your answer")).to_be_visible()
        await expect(page.get_by_text("You rated request #1: 4 out of 5.")).to_be_visible()
        found["survey-thanks"] = await axe_violations(page)
        await screenshot(page, "family/survey-thanks")
        later = utcnow() + timedelta(days=1)
        for rating, name in ((4, "survey-link-rated"), (5, "survey-link-second-answer")):
            await page.goto(f"{gateway.base}/survey/{survey_token(KEY, conv, rating, later)}")
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            found[name] = await axe_violations(page)
            await screenshot(page, f"family/{name}")
        other = await resolved(gateway, config_path, ticket="2", language="en", email="rosa@example.org")
        await page.goto(
            f"{gateway.base}/survey/{survey_token(KEY, other, 3, later)}"
        )  # a link's rating: the comment form
        await expect(page.get_by_text("You rated request #2: 3 out of 5.")).to_be_visible()
        found["survey-link-comment-form"] = await axe_violations(page)
        await screenshot(page, "family/survey-link-comment-form")
        assert {name: v for name, v in found.items() if v} == {}
        await page.goto(status_page)
        await expect(page.locator("#survey-answer")).to_have_text("You rated request #1: 4 out of 5.")
        assert await page.locator("#survey").count() == 0  # answered: no form any more
    stored = survey(redis_server, conv)
    assert (stored["rating"], stored["via"], stored["comment"]) == ("4", "status_page", "Fast, thank you.")


async def test_a_bad_or_second_answer_on_the_status_page_is_refused_in_words_and_stores_nothing(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path, language="en")
    url = f"{gateway.base}/status/{make_token(KEY, conv)}/survey"
    cases = [
        ({"rating": "9"}, 400, "A rating is a number from 1 to 5."),
        ({"rating": "0"}, 400, "A rating is a number from 1 to 5."),
        ({"rating": "four"}, 400, "A rating is a number from 1 to 5."),
        ({"rating": "²"}, 400, "A rating is a number from 1 to 5."),  # isdigit(), but int() refused it: a 500
        ({"rating": "4" * 5000}, 400, "A rating is a number from 1 to 5."),
        ({}, 400, "A rating is a number from 1 to 5."),
        ({"rating": "3", "comment": "y" * 41}, 400, "Use at most 40 characters."),
    ]
    for data, status, words in cases:
        async with gateway.http.post(url, data=data) as resp:
            assert (resp.status, words in await resp.text()) == (status, True), data
    assert "rating" not in survey(redis_server, conv)
    async with gateway.http.post(url, data={"rating": "3"}) as resp:
        assert resp.status == 200
    async with gateway.http.post(url, data={"rating": "5", "comment": "Changed my mind"}) as resp:
        assert resp.status == 409 and "kept the first one" in await resp.text()
    forged = f"{gateway.base}/status/{conv}.not-our-signature/survey"
    async with gateway.http.post(forged, data={"rating": "5"}) as resp:
        assert resp.status == 404
    stored = survey(redis_server, conv)
    assert (stored["rating"], "comment" in stored) == ("3", False)
