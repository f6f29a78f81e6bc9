"""Mail built to exhaust the parser stays within bounded memory and CPU time, and ends as a message or quarantine.

Time is CPU time of this process (time.process_time): a loaded machine makes the wall clock slow, not the CPU
work. Each bound is several times what a quiet machine needs, and far below what the unbounded behaviour took.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from normalizers.email import ParsedEmail, UnparseableEmail, parse_email
from normalizers.email_html import html_to_text, sanitize_html

MB = 1_000_000
HEAD = (
    b"From: Ana <ana@example.org>\r\nTo: help@district.example.org\r\nSubject: bus\r\nMessage-ID: <1@example.org>\r\n"
)


@dataclass
class Cost:
    cpu_s: float = 0.0
    peak_bytes: int = 0


@contextmanager
def measured(memory: bool = True) -> Iterator[Cost]:
    """CPU time, and the peak of memory allocated (tracemalloc slows allocation-heavy code several times: off
    where only the time is in question)."""
    cost = Cost()
    if memory:
        tracemalloc.start()
    started = time.process_time()
    try:
        yield cost
    finally:
        cost.cpu_s = time.process_time() - started
        if memory:
            cost.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


def outcome(raw: bytes) -> ParsedEmail | str:
    """The message, or why it is quarantined."""
    try:
        return parse_email(raw)
    except UnparseableEmail as exc:
        return str(exc)


def test_ten_thousand_mime_parts_are_one_message_listing_every_file() -> None:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=f%d.txt\r\n\r\nx\r\n" % i
        for i in range(10_000)
    )
    raw = HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    with measured() as cost:
        parsed = outcome(raw)
    assert isinstance(parsed, ParsedEmail)
    assert len(parsed.files) == 10_000  # every file listed; the channel keeps at most max_files of them
    assert cost.peak_bytes < 64 * MB, cost
    assert cost.cpu_s < 30, cost


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"".join(b"X-Junk-%d: %s\r\n" % (i, b"y" * 40) for i in range(20_000)), id="20,000 headers"),
        pytest.param(b"Received: from relay.example by mx.example; Sat, 1 Jan 2000\r\n" * 16_000, id="16,000 hops"),
        pytest.param(b"X-Long: " + b"word\r\n " * 140_000 + b"end\r\n", id="one folded header"),
        pytest.param(b"Cc: " + b", ".join(b"u%d@example.org" % i for i in range(60_000)) + b"\r\n", id="60,000 copied"),
        pytest.param(b"References: " + b" ".join(b"<%d@example.org>" % i for i in range(60_000)) + b"\r\n", id="refs"),
        pytest.param(b"Subject: " + b"=?utf-8?B?w6k=?= " * 60_000 + b"\r\n", id="a subject of 60,000 encoded words"),
    ],
)
def test_a_megabyte_of_headers_is_one_message(headers: bytes) -> None:
    raw = HEAD + headers + b"Content-Type: text/plain\r\n\r\nThe bus did not come.\r\n"
    assert len(raw) > 0.9 * MB
    with measured() as cost:
        parsed = outcome(raw)
    assert isinstance(parsed, ParsedEmail)
    assert parsed.text == "The bus did not come."
    assert cost.peak_bytes < 96 * MB, cost
    assert cost.cpu_s < 30, cost


def forwards(depth: int, body_lines: int = 0) -> bytes:
    """A forward of a forward of ... `depth` deep, each an attached message inside a multipart, as clients forward."""
    levels = b"".join(
        b"--b%d\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\nSubject: Fwd\r\n"
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\nforwarded\r\n" % (i, i + 1)
        for i in range(depth)
    )
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\nhi\r\n" % depth + b"more\r\n" * body_lines
    return HEAD + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + levels + inner


def test_forwards_nested_hundreds_deep_are_quarantined_at_once() -> None:
    """Python's parser checks each line against every open boundary: 450 levels and a megabyte of lines took 9 s of
    CPU (a 25 MB message minutes). Nothing past 16 levels is read anyway: the message is refused before parsing."""
    for depth in (300, 450, 3000):
        raw = forwards(depth, body_lines=160_000)
        with measured() as cost:
            parsed = outcome(raw)
        assert parsed == "MIME structure nested too deeply to parse"
        assert cost.peak_bytes < 32 * MB, (depth, cost)
        assert cost.cpu_s < 3, (depth, cost)


def test_forwards_nested_as_deep_as_clients_nest_are_still_read() -> None:
    with measured() as cost:
        parsed = outcome(forwards(30))
    assert isinstance(parsed, ParsedEmail)
    assert "MIME parts nested deeper than 16 levels were not read" in parsed.defects
    assert cost.cpu_s < 10, cost


def _html_mail(html: bytes) -> bytes:
    return HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html


def test_html_nested_a_hundred_thousand_deep_is_cleaned_in_linear_time() -> None:
    """html5ever looks through every open element at each block tag: 100,000 nested <div>s took about a minute."""
    html = b"<div>" * 100_000 + b"<script>alert(1)</script>the bus did not come"
    with measured(memory=False) as cost:
        parsed = outcome(_html_mail(html))
    assert isinstance(parsed, ParsedEmail)
    assert parsed.text == "the bus did not come"
    assert parsed.html is not None and "<script" not in parsed.html and "the bus did not come" in parsed.html
    assert cost.cpu_s < 10, cost


@pytest.mark.parametrize("convert", [html_to_text, sanitize_html], ids=["to text", "sanitized"])
def test_lists_nested_ten_thousand_deep_stay_small(convert: Callable[[str], object]) -> None:
    """Each list item was indented two spaces per level: 90 KB of nested lists became 100 MB of text."""
    with measured() as cost:
        convert("<ol><li>" * 10_000 + "x")
    assert cost.peak_bytes < 32 * MB, cost
    assert cost.cpu_s < 10, cost
