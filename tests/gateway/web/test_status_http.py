from __future__ import annotations

from pathlib import Path

from gateway.ids import new_id
from gateway.web.status_links import make_token, short_reference
from tests.conftest import Gateway
from tests.gateway.web.forms import answers, open_form, post_form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


async def _submit(gw: Gateway, **overrides: str) -> str:
    """Send a valid form; the status page path it redirects to."""
    page = await open_form(gw)
    resp = await post_form(gw, answers(**overrides), token=page.token, cookie=page.cookie)
    assert resp.status == 303
    return resp.headers["Location"].partition("?")[0]


async def _get(gw: Gateway, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    resp = await gw.http.get(gw.base + path, headers=headers or {})
    return resp.status, await resp.text()


async def test_forged_status_token_is_404(gateway: Gateway) -> None:
    path = await _submit(gateway)
    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    status, html = await _get(gateway, forged)
    assert status == 404
    assert "We could not find this page" in html


async def test_status_token_for_another_key_is_404(gateway: Gateway) -> None:
    status, _ = await _get(gateway, f"/status/{make_token(b'not-our-key', new_id())}")
    assert status == 404


async def test_status_before_the_worker_ran_shows_received_and_being_recorded(gateway: Gateway) -> None:
    path = await _submit(gateway, language="en")
    status, html = await _get(gateway, path)
    assert status == 200
    assert 'data-status="received">Received</dd>' in html
    assert "it is being recorded" in html
    assert 'id="ticket"' not in html


async def test_request_not_yet_in_redis_says_it_is_being_recorded(gateway: Gateway) -> None:
    # What a requester sees while the message waits in the local spool because Redis was down.
    request_id = new_id()
    status, html = await _get(gateway, f"/status/{make_token(gateway.settings.signing_key(), request_id)}")
    assert status == 200
    assert "it is being recorded" in html
    assert short_reference(request_id) in html


async def test_status_page_shows_the_short_reference(gateway: Gateway) -> None:
    path = await _submit(gateway)
    _, html = await _get(gateway, path)
    request_id = path.removeprefix("/status/").partition(".")[0]
    assert f'<dd id="reference">{short_reference(request_id)}</dd>' in html


async def test_new_request_banner_asks_to_save_the_link(gateway: Gateway) -> None:
    path = await _submit(gateway, language="en")
    _, html = await _get(gateway, path + "?new=1")
    assert "Thank you. We received your request." in html
    assert "Bookmark this page" in html
    assert f"{gateway.base}{path}" in html


async def test_status_page_without_new_has_no_thank_you_banner(gateway: Gateway) -> None:
    path = await _submit(gateway, language="en")
    _, html = await _get(gateway, path)
    assert "Thank you" not in html


async def test_status_page_never_shows_the_requesters_email_or_phone(gateway: Gateway, config_path: Path) -> None:
    path = await _submit(gateway, email="ana.perez@example.org", phone="(555) 201-7788")
    assert intake(config_path, "worker", "--burst").returncode == 0
    _, html = await _get(gateway, path + "?new=1")
    assert "Recibimos su solicitud (caso #1)" in html  # the worker's acknowledgement is there...
    for private in ("ana.perez", "example.org", "201-7788", "2017788"):
        assert private not in html  # ...but nothing that identifies the family


async def test_status_page_is_not_indexed_and_sends_no_referrer(gateway: Gateway) -> None:
    path = await _submit(gateway)
    resp = await gateway.http.get(gateway.base + path)
    html = await resp.text()
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_status_page_sends_security_headers(gateway: Gateway) -> None:
    path = await _submit(gateway)
    resp = await gateway.http.get(gateway.base + path)
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_status_page_speaks_the_conversations_language(gateway: Gateway) -> None:
    path = await _submit(gateway, language="es")
    _, html = await _get(gateway, path)
    assert '<html lang="es">' in html
    assert "Número de solicitud" in html


async def test_lang_query_overrides_the_conversations_language(gateway: Gateway) -> None:
    path = await _submit(gateway, language="es")
    _, html = await _get(gateway, path + "?lang=en")
    assert '<html lang="en">' in html
    assert "Request number" in html


async def test_status_page_when_redis_is_down_is_a_503_page(gateway: Gateway, redis_server: RedisServer) -> None:
    path = await _submit(gateway, language="en")
    redis_server.stop()
    status, html = await _get(gateway, path)
    assert status == 503
    assert "Status temporarily unavailable" in html
    assert "Traceback" not in html


async def test_the_page_never_shows_a_link_to_a_host_the_caller_named(gateway: Gateway) -> None:
    path = await _submit(gateway)  # the first view (?new=1) shows the link to keep
    status, html = await _get(gateway, path + "?new=1", headers={"Host": "attacker.example"})
    assert status == 200
    assert "attacker.example" not in html
    assert f'class="link">http://127.0.0.1:{gateway.settings.server.port}{path}<' in html  # the configured listener
    _, own = await _get(gateway, path + "?new=1")  # reached at its own address: that address
    assert f'class="link">{gateway.base}{path}<' in own
