"""Property tests of the HTML sanitizer and the HTML-to-text reader: any markup is cleaned into HTML with no script,
event handler, style, javascript: link or remote image, and read as text, never an exception."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import example, given
from hypothesis import strategies as st

from normalizers.email_html import HtmlText, html_to_text, sanitize_html
from tests.normalizers.fuzzing import FUZZ

TAGS = ["div", "p", "br", "a", "img", "script", "style", "blockquote", "ol", "ul", "li", "table", "tr", "td", "pre",
        "span", "b", "svg", "math", "iframe", "object", "form", "title", "template", "xml", "head", "body", "html",
        "noscript", "textarea", "select", "option", "plaintext", "xmp", "base", "meta", "o:p"]  # fmt: skip
ATTRS = ["href", "src", "onclick", "onerror", "style", "class", "id", "type", "xlink:href", "formaction", "srcdoc"]
VALUES = ["javascript:alert(1)", "JaVaScRiPt:x", " javascript:x", "jav&#x09;ascript:x", "data:text/html,x",
          "http://tracker.example/p.gif", "cid:img1", "mailto:a@b.example", "x onerror=alert(1)", "gmail_quote",
          "divRplyFwdMsg", "cite", "MsoNormal", "", "\"", "'"]  # fmt: skip


@st.composite
def tag(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(TAGS))
    if draw(st.booleans()):
        return f"</{name}>"
    attrs = draw(st.lists(st.tuples(st.sampled_from(ATTRS), st.sampled_from(VALUES) | st.text(max_size=8)), max_size=3))
    quote = draw(st.sampled_from(['"', "'", ""]))
    return f"<{name}" + "".join(f" {a}={quote}{v}{quote}" for a, v in attrs) + draw(st.sampled_from([">", "/>", ""]))


MARKUP = st.lists(
    tag()
    | st.text(max_size=20)
    | st.sampled_from(
        ["<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE", "&amp;", "&#0;", "&#x110000;", "<", ">", "&", "<?xml", "<!"]
    ),
    max_size=40,
).map("".join)


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:")
SAFE_SCHEMES = ("http:", "https:", "mailto:", "tel:", "cid:")


class _Audit(HTMLParser):
    """What an HTML parser finds in the cleaned markup: every tag and attribute that could run or track."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "iframe", "object", "svg", "math", "form", "base", "meta"):
            self.bad.append(tag)
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.bad.append(name)
            if name in ("href", "src") and _SCHEME.match(v) and not v.startswith(SAFE_SCHEMES):
                self.bad.append(f"{name}={v[:20]}")
            if tag == "img" and name == "src" and not v.startswith("cid:"):
                self.bad.append("remote image")


@FUZZ
@given(MARKUP | st.text(max_size=200))
@example('<a href="jav&#x09;ascript:alert(1)">x</a><img src=http://t.example/p.gif onerror=alert(1)>')
@example("<![CDATA[<script>alert(1)</script>]]><!<svg/onload=alert(1)>")
def test_any_markup_is_cleaned_of_what_could_run_or_track(html: str) -> None:
    cleaned = sanitize_html(html)
    audit = _Audit()
    audit.feed(cleaned)
    audit.close()
    assert audit.bad == []


@FUZZ
@given(MARKUP | st.text(max_size=200))
@example("<!DOCTYPE x [<!ENTITY a 'b'>]><p>x")  # a declaration HTMLParser trips on
@example("<ol>" * 50 + "<li>deep")
def test_any_markup_reads_as_text_with_its_new_part_first(html: str) -> None:
    found = html_to_text(html)
    assert isinstance(found, HtmlText)
    assert found.full.startswith(found.new)
    assert found.quote_marked or found.new == found.full
