"""POST /form reads its token before its body, and streams the file to the blob store without holding it."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from gateway.web.csrf import COOKIE
from tests.conftest import Gateway
from tests.gateway.web.forms import answers, intake_keys, open_form, post_form
from tests.support.gateway import settings_from, write_config
from tests.support.redis_server import RedisServer

BOUNDARY = "----intake-test-boundary-7f3a"
TEN_MB = 10 * 1024 * 1024
ANSWER_S = 30.0  # generous for a loaded machine; without the fix no answer ever comes before the body


def _part(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


async def answer_before_the_body(gw: Gateway, cookie: str, first_fields: bytes) -> int:
    """Announce a ten-megabyte form, send only its first fields and the start of its file, and read the status
    line the gateway answers while the rest has not been sent."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachment"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n").encode()  # fmt: skip
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(first_fields) + len(head) + TEN_MB - 1024 + len(tail)
    url = gw.server.make_url("/form")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            (f"POST /form HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nCookie: {COOKIE}={cookie}\r\n"
             f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n").encode()
            + first_fields + head + b"%PDF-" + b"x" * 65536
        )  # fmt: skip
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), ANSWER_S)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_a_forged_token_is_refused_before_the_file_is_sent(gateway: Gateway, redis_server: RedisServer) -> None:
    page = await open_form(gateway)
    nonce, ts, _ = page.token.split(".")
    forged = _part("csrf", f"{nonce}.{ts}.AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert await answer_before_the_body(gateway, page.cookie, forged) == 403
    assert intake_keys(redis_server.client()) == []


async def test_a_form_whose_first_field_is_not_the_token_is_refused_before_the_file_is_sent(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    fields = _part("message", "hello") + _part("csrf", page.token)  # the page puts the token first
    assert await answer_before_the_body(gateway, page.cookie, fields) == 403
    assert intake_keys(redis_server.client()) == []


async def test_a_client_over_its_limit_is_refused_before_the_file_is_sent(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.gateway.web.test_rate_limits import limited, send_form

    async with limited(tmp_path, redis_server, form_per_client="1/hour") as [gw]:
        assert (await send_form(gw)).status == 303
        page = await open_form(gw)
        assert await answer_before_the_body(gw, page.cookie, _part("csrf", page.token)) == 429


async def chunks(data_head: bytes, size: int) -> AsyncIterator[bytes]:
    yield data_head
    block = b"\xa5" * 65536
    for _ in range((size - len(data_head)) // len(block)):
        yield block


async def test_a_ten_megabyte_upload_is_stored_without_being_held_in_memory(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("csrf", page.token)
    for name, value in answers().items():
        data.add_field(name, value)
    size = TEN_MB - 65536
    head = b"%PDF-" + b"\xa5" * (65536 - 5)
    data.add_field("attachment", chunks(head, size), filename="scan.pdf", content_type="application/pdf")
    tracemalloc.start()
    try:
        resp = await gateway.http.post(
            gateway.base + "/form", data=data, headers={"Cookie": f"{COOKIE}={page.cookie}"}, allow_redirects=False
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status == 303
    expected = hashlib.sha256(head + b"\xa5" * (size - len(head))).hexdigest()
    blob = gateway.settings.path_in_data("blobs") / expected[:2] / expected
    assert blob.stat().st_size == size
    # Client and server in this one process: a copy of the file would be 10 MB on its own.
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while a 10 MB file was received"


async def test_a_form_refused_for_its_answers_keeps_no_part_of_its_file(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    photo = ("bus.png", b"\x89PNG\r\n\x1a\n" + b"p" * 200_000, "image/png")
    resp = await post_form(gateway, answers(message=" "), token=page.token, cookie=page.cookie, file=photo)
    assert resp.status == 422
    assert "Please choose your file again" in await resp.text()
    blobs = gateway.settings.path_in_data("blobs")
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


async def test_a_file_over_the_limit_is_refused_beside_the_field_and_not_kept(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.conftest import start_gateway

    config = write_config(tmp_path, redis_server.url, channels={"webform": {"max_attachment_bytes": 100_000}})
    settings = settings_from(config)
    gw = Gateway(*await start_gateway(settings), settings)
    try:
        page = await open_form(gw)
        pdf = ("big.pdf", b"%PDF-" + b"x" * 150_000, "application/pdf")
        resp = await post_form(gw, answers(), token=page.token, cookie=page.cookie, file=pdf)
        html = await resp.text()
    finally:
        await gw.http.close()
        await gw.server.close()
    assert resp.status == 422
    assert 'id="attachment-error"' in html
    assert 'value="Ana Pérez"' in html  # the family's answers are given back
    assert [p for p in settings.path_in_data("blobs").rglob("*") if p.is_file()] == []
    assert intake_keys(redis_server.client()) == []


async def test_a_program_is_described_on_the_request_but_never_kept(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    page = await open_form(gateway)
    exe = ("setup.exe", b"MZ\x90\x00" + b"\x00" * 5000, "application/octet-stream")
    resp = await post_form(gateway, answers(), token=page.token, cookie=page.cookie, file=exe)
    assert resp.status == 303
    assert [p for p in gateway.settings.path_in_data("blobs").rglob("*") if p.is_file()] == []
