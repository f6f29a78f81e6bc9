"""Full-text search in each engine's own index (see migrations/versions/r0003_search.py for the indexes).

What a person types: words (all must appear), "quoted phrases", and `word*` for any word it begins. Case and
accents never matter (`caido` finds "CAÍDO"); punctuation separates words (`ana@example.org` is `ana`,
`example`, `org`). A ticket matches when every term is in its subject and message together, or every term is
in one of its comments (a follow-up, a staff reply, a note).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlalchemy as sa

from gateway.routing.text import fold
from gateway.tickets import schema as t

_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    prefix: bool = False  # the last word may be the start of a longer one


def parse(text: str) -> list[Term]:
    out = []
    for quoted, bare in _TERM.findall(text):
        words = tuple(_WORD.findall(fold(quoted or bare)))
        if words:
            out.append(Term(words, prefix=not quoted and bare.endswith("*") and len(words) == 1))
    return out


def fts5_query(terms: list[Term]) -> str:
    """SQLite FTS5 syntax: each term a quoted string (so no word is read as an operator), ANDed."""
    return " ".join(f'"{" ".join(term.words)}"' + ("*" if term.prefix else "") for term in terms)


def tsquery(terms: list[Term]) -> str:
    """PostgreSQL to_tsquery syntax; every lexeme is letters and digits only, so nothing needs quoting."""
    parts = []
    for term in terms:
        if term.prefix:
            parts.append(f"{term.words[0]}:*")
        else:
            parts.append("(" + " <-> ".join(term.words) + ")" if len(term.words) > 1 else term.words[0])
    return " & ".join(parts)


def matches(text: str, dialect: str, *, alone: bool = False) -> sa.ColumnElement[bool]:
    """The condition a ticket meets when the text finds it (false when the text has no word to look for). `alone`:
    no other filter goes with it."""
    terms = parse(text)
    if not terms:
        return sa.false()
    id_ = t.tickets.c.id
    if dialect == "sqlite" and not alone:
        # With other filters, two lists rather than one UNION: SQLite looked each id of the union up in every index
        # range of the filters (an agent's open tickets: a seek per id and open status), where with two lists it
        # reads the filters' own rows once and checks each against both. At a million tickets, a word in 9% of
        # them: an agent's open tickets 768 -> 310 ms, with a language and a channel 1,024 -> 532 ms. Alone, the
        # union itself is the answer and stays (768 ms; 1,234 as two lists). bench/desk_queries.py.
        fts = fts5_query(terms)
        in_tickets = sa.text("SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :fts_t").bindparams(fts_t=fts)
        in_comments = sa.text(
            "SELECT ticket_id FROM comments WHERE id IN "
            "(SELECT rowid FROM comments_fts WHERE comments_fts MATCH :fts_c)"
        ).bindparams(fts_c=fts)
        return sa.or_(
            id_.in_(in_tickets.columns(sa.column("rowid", sa.Integer))),
            id_.in_(in_comments.columns(sa.column("ticket_id", sa.Integer))),
        )
    return id_.in_(matching_ids(terms, dialect))


def matches_listed(text: str) -> sa.TextClause:
    """SQLite: the same condition as `matches`, for a list that walks its sort's order and stops at its page. Each
    index's list of the words is read once into a temporary index (about 0.15 us an entry) and each ticket walked
    past is looked up in it: its id among the words' tickets, or one of its comments among the words' comments.
    `matches` instead looks up every matching comment's ticket before anything else (the slow part of gathering).
    The `+` keeps SQLite from seeking (ticket, comment) once for every entry of the comments' list."""
    fts = fts5_query(parse(text))
    return sa.text(
        "(tickets.id IN (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :fts_list_t)"
        " OR EXISTS (SELECT 1 FROM comments AS c WHERE c.ticket_id = tickets.id"
        " AND +c.id IN (SELECT rowid FROM comments_fts WHERE comments_fts MATCH :fts_list_c)))"
    ).bindparams(fts_list_t=fts, fts_list_c=fts)


# The SQLite function matches_each calls (registered on every connection: gateway/tickets/engine.py).
WORDS_IN = "intake_words_in"


def matches_each(text: str) -> sa.TextClause:
    """SQLite: the same condition again, each ticket walked past read by `words_in` in Python, with its comments.
    For words so common (a fifth of the tickets or more) that their lists cost more to read than the few hundred
    tickets a page walks. Not asked of FTS5 one ticket at a time: a seek costs 70-220 us at a million tickets, and
    a prefix (`ka*`) or a phrase is worked out whole for each seek (a prefix in most tickets: 7 s a page)."""
    return sa.text(
        "(intake_words_in(:words_each, tickets.subject, tickets.body) OR EXISTS (SELECT 1 FROM comments AS c"
        " WHERE c.ticket_id = tickets.id AND intake_words_in(:words_each, c.body, NULL)))"
    ).bindparams(words_each=text)


@functools.lru_cache(maxsize=64)
def _terms(text: str) -> tuple[Term, ...]:
    return tuple(parse(text))


def words_in(text: str, *columns: str | None) -> int:
    """1 when every term of what a person typed is in the columns, as FTS5 with this store's tokenizer decides:
    words folded (case, accents) and split at anything not a letter or digit, each word in any column, a phrase's
    words in a row within one column, `word*` any word it begins; else 0."""
    terms = _terms(text)
    if not terms:
        return 0
    cols = [_WORD.findall(fold(c)) for c in columns if c]
    for term in terms:
        first = term.words[0]
        if term.prefix:
            found = any(w.startswith(first) for ws in cols for w in ws)
        elif len(term.words) == 1:
            found = any(first in ws for ws in cols)
        else:
            n = len(term.words)
            found = any(tuple(ws[i : i + n]) == term.words for ws in cols for i, w in enumerate(ws) if w == first)
        if not found:
            return 0
    return 1


def found_in(conn: sa.Connection, text: str, cap: int) -> int:
    """SQLite: in how many tickets, or how many comments, the words are (the larger), counted no further than
    `cap`; past it, cap + 1. A few milliseconds for a word (50 ns an entry); a prefix or a phrase costs its whole
    expansion before the first row (a prefix in most tickets: 90 ms), so the comments are not counted when the
    tickets already pass the cap."""
    terms = parse(text)
    if not terms:
        return 0
    fts = fts5_query(terms)
    most = 0
    for table in ("tickets_fts", "comments_fts"):
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH :fts LIMIT :cap)"  # noqa: S608
        most = max(most, int(conn.execute(sa.text(sql), {"fts": fts, "cap": cap + 1}).scalar_one()))
        if most > cap:
            break
    return most


def matching_ids(terms: list[Term], dialect: str) -> sa.TextualSelect:
    """The ids of the tickets the terms find, as one subquery."""
    if dialect == "sqlite":
        sql = sa.text(
            "SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :fts UNION SELECT ticket_id FROM comments "
            "WHERE id IN (SELECT rowid FROM comments_fts WHERE comments_fts MATCH :fts)"
        ).bindparams(fts=fts5_query(terms))
    else:
        sql = sa.text(
            "SELECT id FROM tickets WHERE search_vector @@ to_tsquery('simple', :tsq) UNION "
            "SELECT ticket_id FROM comments WHERE search_vector @@ to_tsquery('simple', :tsq)"
        ).bindparams(tsq=tsquery(terms))
    return sql.columns(sa.column("id", sa.Integer))
