from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from gateway.web import csrf
from gateway.web.status_links import read_token
from tests.conftest import Gateway, start_gateway
from tests.gateway.web.forms import answers, intake_keys, open_form, post_form
from tests.support.gateway import intake, settings_from, write_config
from tests.support.redis_server import RedisServer


async def test_form_page_sends_security_headers(gateway: Gateway) -> None:
    resp = await gateway.http.get(f"{gateway.base}/form")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "script-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_form_cookie_is_httponly_samesite_and_scoped_to_the_form(gateway: Gateway) -> None:
    resp = await gateway.http.get(f"{gateway.base}/form")
    morsel = resp.cookies[csrf.COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/form"


async def test_form_stylesheet_is_served_from_our_own_origin(gateway: Gateway) -> None:
    page = await open_form(gateway)
    assert '<link rel="stylesheet" href="/static/pages.css?v=' in page.html
    resp = await gateway.http.get(f"{gateway.base}/static/pages.css")
    assert resp.status == 200
    assert resp.content_type == "text/css"


async def test_form_without_language_preference_is_in_the_default_language(gateway: Gateway) -> None:
    page = await open_form(gateway)
    assert '<html lang="en">' in page.html
    assert "Send my request" in page.html


async def test_accept_language_es_gives_the_form_in_spanish(gateway: Gateway) -> None:
    page = await open_form(gateway, headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in page.html
    assert "Enviar mi solicitud" in page.html
    assert "Autobuses y transporte" in page.html


async def test_lang_query_overrides_accept_language(gateway: Gateway) -> None:
    page = await open_form(gateway, "?lang=en", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in page.html
    assert "Buses and transportation" in page.html


async def test_form_offers_a_switch_to_the_other_language(gateway: Gateway) -> None:
    page = await open_form(gateway)
    assert '<a href="/form?lang=es" lang="es" hreflang="es">Español</a>' in page.html


async def test_post_without_csrf_token_is_refused_and_stores_nothing(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(), token=None, cookie=page.cookie)
    assert resp.status == 403
    assert "Please send the form again" in await resp.text()
    assert intake_keys(redis_server.client()) == []


async def test_post_with_forged_csrf_token_is_refused_and_stores_nothing(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    nonce, ts, _ = page.token.split(".")
    resp = await post_form(gateway, answers(), token=f"{nonce}.{ts}.AAAAAAAAAAAAAAAAAAAAAAAAAAAA", cookie=page.cookie)
    assert resp.status == 403
    assert intake_keys(redis_server.client()) == []


async def test_post_without_the_form_cookie_is_refused(gateway: Gateway, redis_server: RedisServer) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(), token=page.token, cookie=None)
    assert resp.status == 403
    assert intake_keys(redis_server.client()) == []


async def test_token_from_another_browser_is_refused(gateway: Gateway, redis_server: RedisServer) -> None:
    mine, theirs = await open_form(gateway), await open_form(gateway)
    resp = await post_form(gateway, answers(), token=theirs.token, cookie=mine.cookie)
    assert resp.status == 403
    assert intake_keys(redis_server.client()) == []


async def test_expired_page_gives_the_answers_back_and_stores_nothing(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    old = csrf.issue(gateway.settings.signing_key(), page.cookie, time.time() - csrf.MAX_AGE_S - 60)
    resp = await post_form(gateway, answers(), token=old, cookie=page.cookie)
    html = await resp.text()
    assert resp.status == 403
    assert "open for a long time" in html
    assert "The 7:10 bus to Lincoln did not come this morning.</textarea>" in html
    assert intake_keys(redis_server.client()) == []


async def test_missing_message_rerenders_the_form_with_422_and_the_error_beside_the_field(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(message="   "), token=page.token, cookie=page.cookie)
    html = await resp.text()
    assert resp.status == 422
    assert '<span class="error" id="message-error">Error: Tell us what happened.</span>' in html
    assert 'aria-describedby="message-hint message-error" aria-invalid="true"' in html
    assert intake_keys(redis_server.client()) == []


async def test_validation_error_keeps_what_was_typed(gateway: Gateway) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(email="ana.perez@"), token=page.token, cookie=page.cookie)
    html = await resp.text()
    assert resp.status == 422
    assert 'value="ana.perez@"' in html
    assert 'value="Ana Pérez"' in html
    assert '<option value="lhs" selected>' in html
    assert "The 7:10 bus to Lincoln did not come this morning.</textarea>" in html


async def test_invalid_email_error_is_in_the_page_language(gateway: Gateway) -> None:
    page = await open_form(gateway, "?lang=es")
    resp = await post_form(gateway, answers(email="nope"), token=page.token, cookie=page.cookie, query="?lang=es")
    html = await resp.text()
    assert resp.status == 422
    assert 'id="email-error">Error: Escriba un correo electrónico como nombre@ejemplo.com.' in html


async def test_no_email_and_no_phone_asks_for_one_of_them(gateway: Gateway) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(email="", phone=""), token=page.token, cookie=page.cookie)
    html = await resp.text()
    assert resp.status == 422
    assert 'id="contact-error">Error: Give an email address or a phone number' in html


async def test_every_problem_is_listed_in_one_round_trip(gateway: Gateway) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(category="", email="ana.perez@"), token=page.token, cookie=page.cookie)
    html = await resp.text()
    assert resp.status == 422
    assert 'id="category-error"' in html
    assert 'id="email-error"' in html


async def test_valid_submission_redirects_to_its_status_page(gateway: Gateway) -> None:
    page = await open_form(gateway)
    resp = await post_form(gateway, answers(), token=page.token, cookie=page.cookie)
    assert resp.status == 303
    path, _, query = resp.headers["Location"].partition("?")
    assert query == "new=1"
    assert path.startswith("/status/")
    assert read_token(gateway.settings.signing_key(), path.removeprefix("/status/"))


async def test_double_submit_of_one_page_creates_one_request_and_one_ticket(
    gateway: Gateway, config_path: Path, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    first = await post_form(gateway, answers(), token=page.token, cookie=page.cookie)
    second = await post_form(gateway, answers(), token=page.token, cookie=page.cookie)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(list(redis_server.client().scan_iter(match="ig:req:*"))) == 1
    assert intake(config_path, "worker", "--burst").returncode == 0
    listed = intake(config_path, "tickets", "list", "--json")
    assert json.loads(listed.stdout)["total"] == 1


async def test_two_page_loads_are_two_requests(gateway: Gateway) -> None:
    one, two = await open_form(gateway), await open_form(gateway)
    first = await post_form(gateway, answers(), token=one.token, cookie=one.cookie)
    second = await post_form(gateway, answers(), token=two.token, cookie=two.cookie)
    assert first.headers["Location"] != second.headers["Location"]


async def test_attachment_is_kept_in_the_blob_store(gateway: Gateway) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"bus stop photo" * 100
    page = await open_form(gateway)
    resp = await post_form(
        gateway, answers(), token=page.token, cookie=page.cookie, file=("bus.png", photo, "image/png")
    )
    assert resp.status == 303
    digest = hashlib.sha256(photo).hexdigest()
    assert (gateway.settings.path_in_data("blobs") / digest[:2] / digest).read_bytes() == photo


async def test_attachment_over_the_limit_is_refused_beside_the_field(tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, redis_server.url, channels={"webform": {"max_attachment_bytes": 1000}})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    try:
        page = await open_form(gw)
        resp = await post_form(
            gw,
            answers(),
            token=page.token,
            cookie=page.cookie,
            file=("big.pdf", b"%PDF-" + b"x" * 2000, "application/pdf"),
        )
        html = await resp.text()
    finally:
        await http.close()
        await server.close()
    assert resp.status == 422
    assert 'id="attachment-error">Error: The file is larger than 1 MB.' in html
    assert intake_keys(redis_server.client()) == []


async def test_body_larger_than_the_server_accepts_gets_a_413_page(tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, redis_server.url, channels={"webform": {"max_attachment_bytes": 1000}})
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    too_big = settings.server.max_body_bytes + 1
    try:
        page = await open_form(gw)
        resp = await post_form(
            gw, answers(), token=page.token, cookie=page.cookie, file=("big.bin", b"x" * too_big, "application/pdf")
        )
        html = await resp.text()
    finally:
        await http.close()
        await server.close()
    assert resp.status == 413
    assert "The form is too large" in html
    assert intake_keys(redis_server.client()) == []
