"""Full-text search, in SQLite's FTS5 and PostgreSQL's tsvector: the same queries find the same tickets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.tickets import NewComment, TicketQuery, TicketStore
from gateway.tickets.search import fts5_query, parse, tsquery


@pytest.fixture
def corpus(store: TicketStore, make: Callable[..., int]) -> dict[str, int]:
    made = {
        "bus": make(subject="Bus 4 did not come", body="The 7:10 bus to Lincoln did not come this morning."),
        "caido": make(subject="", body="El autobús de la ruta 4 está CAÍDO otra vez.", language="es", channel="email"),
        "wifi": make(subject="Wi-Fi down", body="No internet in the library at jes.", queue="it", school="jes"),
        "vi": make(subject="Xe buýt", body="Xe buýt không đến trường sáng nay.", language="vi"),
        "mail": make(subject="Password", body="Please reset it for ana.perez@example.org today."),
    }
    store.add_comment(
        made["wifi"],
        NewComment(body="The router in room 12 is blinking red.", author="Ben", author_kind="staff"),
        idempotency_key="c1",
    )
    store.add_comment(
        made["bus"],
        NewComment(body="Nota interna: llamar al chofer", author="Ben", author_kind="staff", public=False),
        "c2",
    )
    return made


def found(store: TicketStore, text: str, **filters: object) -> set[int]:
    page = store.search(text, TicketQuery(**filters), per_page=100)  # type: ignore[arg-type]
    assert page.total == len(page.items)
    return {t.id for t in page.items}


def test_words_are_found_in_the_subject_and_the_message_whatever_their_case(
    store: TicketStore, corpus: dict[str, int]
) -> None:
    assert found(store, "lincoln") == {corpus["bus"]}
    assert found(store, "BUS morning") == {corpus["bus"]}  # one word in the subject, one in the message
    assert found(store, "bus library") == set()  # every word must be there


def test_accents_never_matter(store: TicketStore, corpus: dict[str, int]) -> None:
    assert found(store, "caido") == {corpus["caido"]}
    assert found(store, "autobus CAÍDO") == {corpus["caido"]}
    assert found(store, "buyt khong") == {corpus["vi"]}
    assert found(store, "không") == {corpus["vi"]}


def test_a_comment_or_an_internal_note_finds_its_ticket(store: TicketStore, corpus: dict[str, int]) -> None:
    assert found(store, "router blinking") == {corpus["wifi"]}
    assert found(store, "chofer") == {corpus["bus"]}
    assert found(store, "router library") == set()  # not in one document: the comment has one, the message the other


def test_phrases_prefixes_and_punctuation(store: TicketStore, corpus: dict[str, int]) -> None:
    assert found(store, '"did not come"') == {corpus["bus"]}
    assert found(store, '"not did come"') == set()
    assert found(store, "internet libr*") == {corpus["wifi"]}
    assert found(store, "ana") == {corpus["mail"]}  # punctuation separates words: ana.perez@example.org
    assert found(store, "wi-fi") == {corpus["wifi"]}
    assert found(store, "7:10") == {corpus["bus"]}


def test_search_keeps_to_the_filters_and_text_with_no_words_finds_nothing(
    store: TicketStore, corpus: dict[str, int]
) -> None:
    assert found(store, "bus", language=("es",)) == set()
    assert found(store, "autobus", language=("es",)) == {corpus["caido"]}
    assert found(store, "did", queue=("transportation",)) == {corpus["bus"]}
    assert found(store, "!!! --") == set()


def test_search_follows_every_change_to_the_text(store: TicketStore, corpus: dict[str, int]) -> None:
    store.forget(["ana.perez@example.org"], [], [])
    assert found(store, "lincoln") == set()
    assert found(store, "router") == set()


def test_what_a_person_types_becomes_a_safe_query_for_each_engine() -> None:
    terms = parse('Bus "did NOT come" libr* OR AND NEAR( "x"')
    assert fts5_query(terms) == '"bus" "did not come" "libr"* "or" "and" "near" "x"'
    assert tsquery(terms) == "bus & (did <-> not <-> come) & libr:* & or & and & near & x"
    assert parse("ana.perez@example.org")[0].words == ("ana", "perez", "example", "org")
