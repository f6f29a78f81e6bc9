"""What the fuzz_*.py property tests share: bounded settings, junk JSON values, and mutations of recorded payloads.

A mutation keeps a recorded payload's shape and breaks one place at a time (a value of another type, a
missing key, an odd string), which is where hand-written parsers trip: a list where a string was expected,
'²' where digits were, a field nested where a scalar was.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"

# Bounded: each fuzz file runs in a few seconds. No deadline (a loaded machine is slow, not wrong) and no example
# database (it would write a .hypothesis folder into the work tree). A longer hunt for rarer inputs:
# INTAKE_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/normalizers/fuzz_*.py
FUZZ = settings(
    max_examples=int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

# Strings parsers get wrong: non-ASCII digits (isdigit() is true, int() refuses some), bidi and zero-width marks,
# NUL, lone surrogates' neighbours, long digit runs, markup, and the empty string.
ODD_STRINGS = st.sampled_from(
    ["", " ", "²", "٣", "１２", "0", "-1", "1e999", "nan", "9" * 5000, "\x00", "\u202e", "\u200b", "\ufeff", "\r\n",
     "<@U0BOT>", "<http://x|y>", "&amp;&lt;", "%", "%ff", "+", "=", "&", "a=b&c", "{}", "[]", "null", "ß", "İ",
     "\U0001f600", "x" * 3000]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),  # what orjson reads; larger integers are refused as not JSON
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    ODD_STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def load_json(channel: str, name: str) -> Any:
    return json.loads((PAYLOADS / channel / name).read_text())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn, original: Any, keys: st.SearchStrategy[str] | None = None) -> Any:
    """`original` (a dict or list) with one to five places replaced by junk, removed, or given an extra key."""
    value = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 5))):
        paths = _paths(value)[1:]  # never the whole payload: random JSON covers that
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "replace":
            parent[last] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(keys if keys is not None else st.text(max_size=12))] = draw(JSON_VALUES)
    return value
