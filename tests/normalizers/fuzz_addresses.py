"""The address headers' quick reading (`simple_address`) against the standard library's `getaddresses`.

Most From, To and Cc headers hold one address in a common form, and the quick reading takes those without the
whole RFC 5322 grammar. Whatever it takes, it must read exactly as `getaddresses` does; whatever it cannot be sure
of, it must leave to `getaddresses` (None). The strings are built from the pieces headers are made of, the odd
ones included (dots, commas, brackets, quotes, comments, encoded words, non-ASCII), so both sides are exercised.
"""

from __future__ import annotations

from email.message import Message
from email.utils import getaddresses

from hypothesis import given
from hypothesis import strategies as st

from normalizers.email_headers import Headers, every_address, simple_address
from tests.normalizers.fuzzing import FUZZ

_ODD = ".,;:()<>@\"\\[]!#$%&*=?_+/'`{|}~-é\u00a0"
WORD = st.text(st.sampled_from("abcXYZ019" + _ODD), min_size=1, max_size=8)
SPACE = st.sampled_from(["", " ", "  ", "\t", " \t "])
ENCODED = st.sampled_from(["=?utf-8?B?Tmd1eeG7hW4=?=", "=?iso-8859-1?Q?Jos=E9_P=E9rez?=", "=?gb2312?B?1tDOxA==?="])
LOCAL = st.text(st.sampled_from("abc019.+_-=!#'/?"), min_size=1, max_size=10)
DOMAIN = st.text(st.sampled_from("abc019.-"), min_size=1, max_size=10)
AT = st.sampled_from(["@", "@", " @"])
ADDRESS = st.builds(lambda local, domain, at: f"{local}{at}{domain}", LOCAL, DOMAIN, AT)
PLAIN = st.lists(st.one_of(WORD, ENCODED), min_size=0, max_size=4).map(" ".join)
QUOTED = st.text(st.sampled_from("ab ,.<>@'é\\\""), max_size=10).map(lambda t: f'"{t}"')
DISPLAY = st.one_of(PLAIN, QUOTED, st.just(""))
HEADER = st.one_of(
    st.builds(lambda a, b, addr: f"{a}{addr}{b}", SPACE, SPACE, ADDRESS),
    st.builds(lambda a, d, m, b, addr: f"{a}{d}{m}<{addr}>{b}", SPACE, DISPLAY, SPACE, SPACE, ADDRESS),
    st.builds(lambda one, two: f"{one}, {two}", ADDRESS, ADDRESS),
    st.builds(lambda d, addr, c: f"{d} <{addr}> ({c})", DISPLAY, ADDRESS, WORD),
    st.text(st.sampled_from('ab@.<> ",' + _ODD), max_size=30),
)


@FUZZ
@given(HEADER)
def test_a_header_read_quickly_reads_exactly_as_getaddresses_reads_it(raw: str) -> None:
    quick = simple_address(raw)
    if quick is None:
        return  # left to getaddresses
    pairs = getaddresses([raw])
    assert len(pairs) == 1
    display, addr = pairs[0]
    assert (" ".join(quick[0].split()), quick[1]) == (" ".join(display.split()), addr)


@FUZZ
@given(HEADER)
def test_the_headers_addresses_are_those_getaddresses_gives(raw: str) -> None:
    """The whole reading, decoding and salvage included, is the same with and without the quick reading."""
    msg = Message()
    msg["From"] = "x@y.z"
    headers = Headers(msg)
    assert headers._parse_addresses("from", raw) == headers.named("from", raw, every_address(raw))


def test_the_forms_families_and_mail_programs_write_are_read_quickly() -> None:
    assert simple_address("parent@example.com") == ("", "parent@example.com")
    assert simple_address("Maria Lopez <maria.lopez@example.com>") == ("Maria Lopez", "maria.lopez@example.com")
    assert simple_address('"Nguyen, Van A" <van.a@example.vn>') == ("Nguyen, Van A", "van.a@example.vn")
    assert simple_address("=?utf-8?B?Tmd1eeG7hW4=?= <x@example.vn>") == ("=?utf-8?B?Tmd1eeG7hW4=?=", "x@example.vn")
    assert simple_address("<help+K7QM2XPA@district.example.org>") == ("", "help+K7QM2XPA@district.example.org")
    assert simple_address("a@b.c, d@e.f") is None
    assert simple_address("Dr. Who <who@example.org>") is None  # a dot in a plain name: getaddresses decides
