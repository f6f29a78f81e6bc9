"""Property tests of the web form: any JSON posted to /hooks/webform is a submission's fields or InvalidSubmission
(answered 422 naming the fields), and any token posted to /form is a verdict (a bad one 403), never an exception."""

from __future__ import annotations

import base64
import time

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.web import csrf
from normalizers.phone import is_e164
from normalizers.webform import FormFields, InvalidSubmission, parse_submission
from tests.normalizers.fuzzing import FUZZ, JSON_VALUES, ODD_STRINGS, mutated

CATEGORIES = ["transportation", "enrollment"]
SCHOOLS = ["lhs", "wms"]
LANGUAGES = ["en", "es", "vi"]
VALID = {
    "name": "Ana Pérez",
    "email": "ana.perez@example.org",
    "phone": "(512) 555-0123 ext. 4",
    "category": "transportation",
    "school": "lhs",
    "subject": "Bus 14",
    "message": "The 7:10 bus to Lincoln did not come this morning.",
    "language": "es-MX",
    "attachments": [
        {"filename": "note.txt", "content_type": "text/plain", "data_base64": base64.b64encode(b"hi").decode()}
    ],
}
KEYS = st.sampled_from([*VALID, "filename", "content_type", "data_base64", "extra"])


def parses_or_names_fields(payload: object) -> None:
    try:
        fields = parse_submission(
            payload, categories=CATEGORIES, schools=SCHOOLS, languages=LANGUAGES, default_language="en",
            max_file_bytes=1000,
        )  # fmt: skip
    except InvalidSubmission as exc:
        assert exc.fields
        orjson.dumps({"fields": exc.fields, "valid": exc.valid})  # the 422's body can always be written
        return
    assert isinstance(fields, FormFields)
    assert fields.message and fields.category in CATEGORIES
    assert fields.email or fields.phone
    assert fields.phone is None or is_e164(fields.phone)
    assert fields.email is None or fields.email == fields.email.lower()
    assert fields.language in LANGUAGES
    assert all(len(f.data) <= 1000 and f.filename for f in fields.files)


@FUZZ
@given(mutated(VALID, keys=KEYS) | JSON_VALUES)
@example({**VALID, "phone": "²"})
@example({**VALID, "attachments": [{"filename": "x", "data_base64": "é"}]})  # non-ASCII base64: ValueError
@example({**VALID, "message": "\x00\u200b\ufeff"})
def test_any_posted_json_is_fields_or_invalid_fields(payload: object) -> None:
    parses_or_names_fields(payload)


@FUZZ
@given(st.dictionaries(KEYS, ODD_STRINGS | st.text(max_size=60), max_size=9))
def test_any_odd_strings_in_the_form_are_fields_or_invalid_fields(payload: dict[str, str]) -> None:
    parses_or_names_fields({**VALID, **payload})


KEY = b"fuzz-signing-key"
COOKIE = csrf.new_secret()


def _tokens() -> st.SearchStrategy[str]:
    good = csrf.issue(KEY, COOKIE, time.time())
    nonce, ts, sig = good.split(".")
    pieces = st.sampled_from([nonce, ts, sig, "²", "٣٤", "", ".", "9" * 199]) | st.text(max_size=30)
    return st.lists(pieces, max_size=5).map(".".join) | st.text(max_size=210) | st.just(good)


@FUZZ
@given(_tokens())
@example("A" * 22 + ".²." + "x")  # isdigit() is true for '²', which int() refuses
@example("A" * 22 + ".١٧٠٠٠٠٠٠٠٠." + "x")
def test_any_form_token_is_a_verdict(token: str) -> None:
    verdict = csrf.verify(KEY, COOKIE, token, time.time())
    assert verdict.check in csrf.Check
    assert (verdict.check is csrf.Check.INVALID) == (verdict.nonce == "")
