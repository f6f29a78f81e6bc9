"""Property test of POST /form over real HTTP: any multipart body, with the page's genuine token or not, broken one
place at a time, is a request (303 to its status page) or a page saying what was wrong (400, 403, 413, 422), never
a 500. The body is read by aiohttp's multipart reader and our own field reader (gateway/web/form_upload.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.gateway import settings_from
from tests.support.threaded import serving

DOCUMENTED = {303, 400, 403, 413, 422}
HTTP = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
NAMES = st.sampled_from(["csrf", "name", "email", "phone", "category", "school", "message", "language", "attachment",
                         "", "x" * 300, "message\udcff", 'a"b'])  # fmt: skip
VALUES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from([b"Ana", b"ana@example.org", b"(512) 555-0123", b"transportation", b"lhs", b"es", b"\xff\xfe",
                     b"The bus did not come.", b"\xb2", b"--b", b"\r\n--b--\r\n", b"=?utf-8?B?w6k=?="]),
)  # fmt: skip
HEADERS = st.sampled_from(["", 'filename="a.txt"', "filename=", "filename*=utf-8''%FF", 'filename="../../x"',
                           "\r\nContent-Type: multipart/mixed; boundary=c", "\r\nContent-Transfer-Encoding: base64",
                           "\r\nContent-Length: 99999999",
                           "\r\nContent-Type: text/plain; charset=x-unknown"])  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn, token: str) -> bytes:
    parts = []
    if draw(st.booleans()):
        parts.append(("csrf", token.encode(), ""))
    parts += draw(st.lists(st.tuples(NAMES, VALUES, HEADERS), max_size=8))
    raw = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="%s"' % n.encode("utf-8", "surrogateescape")
        + (b"; " if h and not h.startswith("\r\n") else b"")
        + h.encode("utf-8", "surrogateescape")
        + b"\r\n\r\n"
        + v
        + b"\r\n"
        for n, v, h in parts
    )
    raw += draw(st.sampled_from([b"--b--\r\n", b"--b--", b"", b"--b\r\n", b"--c--\r\n"]))
    if draw(st.booleans()) and raw:  # one more break: bytes cut out, or junk written in
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.binary(max_size=20)) + raw[at + draw(st.integers(0, 40)) :]
    return raw


@pytest.fixture
def form_url(config_path: Path) -> Iterator[str]:
    with serving(settings_from(config_path)) as url:
        yield url + "/form"


def _page(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=120)
    assert page.status_code == 200
    match = _TOKEN.search(page.text)
    assert match
    return match.group(1)


# aiohttp warns of a Content-Disposition it cannot read (and reads no name or file name from it): only this suite
# turns warnings into errors, and the server runs in its process.
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader")
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionParam")
@HTTP
@given(data=st.data(), content_type=st.sampled_from(["multipart/form-data; boundary=b", "multipart/form-data",
                                                       "multipart/form-data; boundary=", "multipart/mixed; boundary=b",
                                                       "application/x-www-form-urlencoded"]))  # fmt: skip
@example(data=None, content_type="multipart/form-data; boundary=b")
def test_any_form_post_is_a_request_or_a_page_saying_what_was_wrong(
    form_url: str, data: st.DataObject | None, content_type: str
) -> None:
    with requests.Session() as session:
        token = _page(session, form_url)
        body = data.draw(bodies(token)) if data is not None else well_formed(token)
        resp = session.post(form_url, data=body, headers={"Content-Type": content_type}, allow_redirects=False,
                            timeout=120)  # fmt: skip
        assert resp.status_code in DOCUMENTED, (resp.status_code, body[:300])
        if data is None:  # the well-formed post of the explicit example is a request
            assert resp.status_code == 303


def well_formed(token: str) -> bytes:
    fields = {"csrf": token, "name": "Ana", "email": "ana@example.org", "category": "transportation", "school": "lhs",
              "message": "The bus did not come.", "language": "es"}  # fmt: skip
    return (
        b"".join(
            b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
            for k, v in fields.items()
        )
        + b"--b--\r\n"
    )


def test_a_part_header_aiohttp_refuses_is_a_400_page(form_url: str) -> None:
    """aiohttp raises its own HTTP error (not a ValueError) for a part header line it cannot read: it was a 500."""
    with requests.Session() as session:
        token = _page(session, form_url)
        body = b'--b\r\n\x00Content-Disposition: form-data; name="csrf"\r\n\r\n' + token.encode() + b"\r\n--b--\r\n"
        resp = session.post(form_url, data=body, headers={"Content-Type": "multipart/form-data; boundary=b"},
                            timeout=120)  # fmt: skip
    assert resp.status_code == 400
