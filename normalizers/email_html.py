"""HTML mail -> readable text (with where the quoted history starts), and sanitized HTML. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

_SKIP = {"script", "style", "head", "title", "template", "xml"}
_BLOCK = {
    "div", "tr", "table", "dl", "dt", "dd", "pre", "hr", "center", "section", "article", "header",
    "footer", "address", "form", "fieldset", "caption", "figure", "nav", "aside", "tbody", "thead", "tfoot",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_WS = re.compile(r"[ \t\r\n\f]+")
MAX_INDENT = 20
# html5ever looks through every open element for each block start tag: time grows with the square of the nesting
# (30,000 nested <div>s took 5 s). Past this depth, far beyond any mail client's, the tags are dropped before
# cleaning and the text is kept.
MAX_HTML_DEPTH = 300
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
# Elements that never stay open: void ones, and those the HTML parser closes by itself when the next one starts.
_NEVER_OPEN = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "p",
    "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot", "colgroup", "rb", "rt", "rp",
}  # fmt: skip
# Where clients start the quoted history: Outlook on the web / new Outlook (divRplyFwdMsg, appendonsend; "x_" when
# re-quoted), Gmail (gmail_quote), Apple Mail and Thunderbird (blockquote type=cite, moz-cite-prefix), Yahoo,
# Hotmail (stopSpelling), old Outlook (OutlookMessageHeader).
_QUOTE_IDS = re.compile(r"(divRplyFwdMsg|appendonsend|stopSpelling|yahoo_quoted)", re.IGNORECASE)
_QUOTE_CLASSES = re.compile(r"\b(gmail_quote|moz-cite-prefix|yahoo_quoted|OutlookMessageHeader)\b", re.IGNORECASE)


@dataclass(frozen=True)
class HtmlText:
    full: str  # everything, quoted history included ("> " marks blockquotes)
    new: str  # what comes before the first quoted-history marker (all of it when there is none)
    quote_marked: bool


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.cur: list[str] = []
        self.cur_depth = 0
        self.indent = ""  # of the current list item
        self.depth = 0  # blockquote nesting
        self.skip: list[str] = []
        self.pre = 0
        self.lists: list[list[int]] = []  # [counter] for <ol>, [-1] for <ul>
        self.links: list[tuple[str | None, list[str]]] = []
        self.mso: list[bool] = []  # open <p> elements: Outlook's MsoNormal or not
        self.marker: int | None = None  # line index where quoted history starts

    def flush(self, force: bool = False) -> None:
        if self.cur or force:
            content = "".join(self.cur).replace("\xa0", " ").strip()
            line = self.indent + content if content else ""
            self.lines.append(("> " * min(self.cur_depth, 20) + line).rstrip())
        self.cur = []
        self.indent = ""

    def paragraph(self) -> None:
        self.flush()
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append("")

    def write(self, text: str) -> None:
        if not self.cur:
            text = text.lstrip(" ")
            if not text:
                return
            self.cur_depth = self.depth
        self.cur.append(text)
        if self.links:  # only the innermost: links cannot nest, and unclosed ones must not cost quadratic time
            self.links[-1][1].append(text)

    def mark_quote(self) -> None:
        if self.marker is None:
            self.flush()
            self.marker = len(self.lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip.clear()
        if self.skip:
            if tag in _SKIP:
                self.skip.append(tag)
            return
        if tag in _SKIP:
            self.skip.append(tag)
            return
        a = {k: v or "" for k, v in attrs}
        cite = tag == "blockquote" and a.get("type", "").lower() == "cite"
        if cite or _QUOTE_IDS.search(a.get("id", "")) or _QUOTE_CLASSES.search(a.get("class", "")):
            self.mark_quote()
        if tag == "p":
            # Outlook writes every line as a <p class=MsoNormal> with no margin: a line, not a paragraph.
            self.mso.append("msonormal" in a.get("class", "").lower())
        if tag == "p" and self.mso[-1]:
            self.flush()
        elif tag in _PARAGRAPH:
            self.paragraph()
        elif tag == "br":
            self.flush(force=True)
        elif tag in _BLOCK:
            self.flush()
        elif tag == "blockquote":
            self.flush()
            self.depth += 1
        elif tag in ("ul", "ol"):
            self.flush()
            self.lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            self.flush()
            # Capped like the "> " of blockquotes: lists nested thousands deep must not indent quadratically.
            self.indent = "  " * min(max(len(self.lists) - 1, 0), MAX_INDENT)
            if self.lists and self.lists[-1][0] >= 0:
                self.lists[-1][0] += 1
                self.write(f"{self.lists[-1][0]}. ")
            else:
                self.write("- ")
        elif tag in ("td", "th"):
            if self.cur:
                self.cur.append(" ")
        elif tag == "a":
            self.links.append((a.get("href"), []))
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if tag == "a" and self.links:
            href, parts = self.links.pop()
            label = _WS.sub(" ", "".join(parts)).strip()
            url = _link_target(href)
            if url and url.lower() != label.lower() and url.lower() not in label.lower():
                self.write(f" ({url})" if label else url)
        elif tag == "p" and self.mso and self.mso.pop():
            self.flush()
        elif tag in _PARAGRAPH:
            self.paragraph()
        elif tag == "blockquote":
            self.flush()
            self.depth = max(self.depth - 1, 0)
        elif tag in ("ul", "ol"):
            self.flush()
            if self.lists:
                self.lists.pop()
        elif tag in _BLOCK or tag == "li":
            self.flush()
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self.write(first)
            for line in rest:
                self.flush(force=True)
                self.write(line)
            return
        self.write(_WS.sub(" ", data))


def _link_target(href: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    lower = href.lower()
    if lower.startswith("mailto:"):
        return href[7:].split("?", 1)[0] or None
    if lower.startswith(("http://", "https://", "tel:")):
        return href
    return None  # cid:, javascript:, anchors and relative links tell a reader nothing


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    return _BLANK_LINES.sub("\n\n", text).strip()


def html_to_text(html: str) -> HtmlText:
    """Readable text: paragraphs and line breaks, lists as '- ', links as 'text (url)', blockquotes as '> '."""
    converter = _Converter()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):  # HTMLParser still trips on some malformed declarations
        converter = _Converter()
        converter.feed(sanitize_html(html))  # html5ever's output is well formed
        converter.close()
    converter.flush()
    lines = converter.lines
    if converter.marker is None:
        full = _tidy(lines)
        return HtmlText(full, full, False)
    return HtmlText(_tidy(lines), _tidy(lines[: converter.marker]), True)


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Remote images are trackers (they tell the sender when staff opened the ticket); embedded cid: images stay.
    if tag == "img" and attribute == "src":
        return value if value.strip().lower().startswith("cid:") else None
    return value


_CLEANER = nh3.Cleaner(
    clean_content_tags={"script", "style", "title", "xml", "template"},
    attribute_filter=_keep_attribute,
    url_schemes={"http", "https", "mailto", "tel", "cid"},
)


def _too_deep(html: str) -> bool:
    depth = 0
    for m in _TAG.finditer(html):
        if m.group(2).lower() in _NEVER_OPEN or m.group(0).endswith("/>"):
            continue
        depth = max(depth - 1, 0) if m.group(1) else depth + 1
        if depth > MAX_HTML_DEPTH:
            return True
    return False


def sanitize_html(html: str) -> str:
    """No scripts, event handlers, styles or remote images; links get rel=noopener noreferrer."""
    if _too_deep(html):
        html = _TAG.sub(" ", html)  # nothing left to nest: cleaned in linear time, its text escaped
    return _CLEANER.clean(html).strip()
