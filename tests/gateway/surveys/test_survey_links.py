"""The survey's links over HTTP: every bad input gets a clear page with a 4xx status and stores nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gateway.models import utcnow
from gateway.surveys.links import make_token
from tests.conftest import Gateway
from tests.gateway.surveys.support import link_paths, parked, resolved, survey, timeline, work
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer

KEY = b"test-secret-key"  # the tests' secret_key (tests/support/gateway.py): only the gateway's signs


async def get(gateway: Gateway, path: str) -> tuple[int, str]:
    async with gateway.http.get(gateway.base + path) as resp:
        return resp.status, await resp.text()


async def post(gateway: Gateway, path: str, comment: str | None) -> tuple[int, str]:
    data = {} if comment is None else {"comment": comment}
    async with gateway.http.post(gateway.base + path, data=data) as resp:
        return resp.status, await resp.text()


async def test_the_survey_goes_to_the_status_page_and_the_email_with_five_signed_links(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path, language="es")
    [mail] = parked(redis_server, "email")
    assert mail.recipient == "ana.perez@example.org"
    assert mail.subject == "¿Cómo lo hicimos? [#1]"
    assert sorted(link_paths(mail)) == [1, 2, 3, 4, 5]
    shown = [e for e in timeline(redis_server, conv) if e.get("event") == "reply"][-1]
    assert "¿Cómo lo hicimos?" in str(shown["text"])
    record = survey(redis_server, conv)
    assert (record["state"], record["channels"], record["language"], record["school"]) == (
        "sent", "webform,email", "es", "lhs",
    )  # fmt: skip


async def test_forged_tampered_expired_and_out_of_range_links_are_refused_in_words_and_store_nothing(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path, language="en")
    [mail] = parked(redis_server, "email")
    good = link_paths(mail)[5]
    tampered = good.replace(".5.", ".1.", 1)  # the signature no longer matches what it says
    later = utcnow() + timedelta(days=1)
    cases = [
        ("/survey/not-a-link", 404, "This survey link does not work"),
        (tampered, 404, "This survey link does not work"),
        ("/survey/" + make_token(b"someone-elses-key", conv, 5, later), 404, "This survey link does not work"),
        ("/survey/" + make_token(KEY, conv, 3, utcnow() - timedelta(seconds=1)), 410, "This survey has closed"),
        ("/survey/" + make_token(KEY, conv, 7, later), 400, "A rating is a number from 1 to 5."),
        ("/survey/" + make_token(KEY, conv, 0, later), 400, "A rating is a number from 1 to 5."),
    ]
    for path, status, words in cases:
        got, page = await get(gateway, path)
        assert (got, words in page) == (status, True), path
    assert survey(redis_server, conv)["state"] == "sent"
    assert "rating" not in survey(redis_server, conv)


async def test_a_rating_is_stored_once_and_its_comment_once_with_clear_refusals_around_them(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    conv = await resolved(gateway, config_path, language="en")
    links = link_paths(parked(redis_server, "email")[0])
    assert (await post(gateway, links[2], "Too early"))[0] == 409  # no rating yet: nothing to attach it to
    status, page = await get(gateway, links[2])
    assert status == 200 and "You rated request #1: 2 out of 5." in page
    status, page = await get(gateway, links[5])
    assert status == 409 and "kept the first one" in page
    status, page = await post(gateway, links[2], "   ")
    assert status == 400 and "Write a comment first" in page
    status, page = await post(gateway, links[2], None)
    assert status == 400
    status, page = await post(gateway, links[2], "x" * 41)
    assert status == 400 and "Use at most 40 characters." in page
    status, page = await post(gateway, links[2], "The bus was late twice.")
    assert status == 200 and "Thank you for your comment" in page
    status, page = await post(gateway, links[2], "And again.")
    assert status == 409 and "We already have your comment" in page
    record = survey(redis_server, conv)
    assert (record["state"], record["rating"], record["comment"]) == ("answered", "2", "The bus was late twice.")
    assert redis_server.client().zcard("ig:survey:answered") == 1
    work(config_path)
    shown = intake(config_path, "tickets", "show", "1").stdout
    assert shown.count("the family rated this request 2 out of 5 (by a link in the survey email).") == 1
    assert shown.count("Satisfaction survey comment from the family: The bus was late twice.") == 1


async def test_the_pages_speak_the_familys_language_and_keep_the_link_private(
    gateway: Gateway, redis_server: RedisServer, config_path: Path
) -> None:
    await resolved(gateway, config_path, language="vi")
    links = link_paths(parked(redis_server, "email")[0])
    async with gateway.http.get(gateway.base + links[4]) as resp:
        page = await resp.text()
        assert resp.status == 200
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert resp.headers["Content-Language"] == "vi"
    assert "Quý vị đã chấm yêu cầu #1: 4 trên 5." in page
