"""Pure normalizers: web form payloads, phone numbers, text."""

from __future__ import annotations

import base64

import pytest

from normalizers.phone import PhoneRules, to_e164
from normalizers.text import clean_text, primary_language
from normalizers.webform import InvalidSubmission, parse_submission

CHOICES = {
    "categories": ["transportation", "devices"],
    "schools": ["lhs", "wms"],
    "languages": ["en", "es"],
    "default_language": "en",
    "max_file_bytes": 100,
}


def parse(**payload: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {"email": "a@example.org", "category": "devices", "message": "Screen cracked"}
    base.update(payload)
    return parse_submission({k: v for k, v in base.items() if v is not None}, **CHOICES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(555) 123-4567", "+15551234567"),
        ("555.123.4567", "+15551234567"),
        ("1 555 123 4567", "+15551234567"),
        ("+52 55 1234 5678", "+525512345678"),
        ("0044 20 7946 0958", "+442079460958"),
        ("123", None),
        ("call me", None),
        ("+1 555 123 456", None),
    ],
)
def test_phone_numbers_become_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw) == expected


def test_text_cleanup_removes_controls_and_blank_runs_and_normalizes_unicode() -> None:
    assert clean_text("  Jose\u0301\r\n\r\n\r\n\r\nline\x00 two \x07 ") == "José\n\nline two"


@pytest.mark.parametrize(("tag", "expected"), [("es-MX", "es"), ("EN_us", "en"), ("", None), ("123", None)])
def test_primary_language_subtag(tag: str, expected: str | None) -> None:
    assert primary_language(tag) == expected


def test_regional_language_maps_to_the_configured_language() -> None:
    assert parse(language="es-419").language == "es"


def test_unconfigured_language_falls_back_to_the_default() -> None:
    assert parse(language="fr").language == "en"


def test_email_is_lowercased_and_phone_normalized() -> None:
    fields = parse(email="Ana@Example.ORG", phone="555-123-4567")
    assert fields.email == "ana@example.org"
    assert fields.phone == "+15551234567"


def test_a_phone_alone_is_enough() -> None:
    assert parse(email=None, phone="5551234567").email is None


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidSubmission) as err:
        parse(email="nope", category="spaceships", school="hogwarts")
    assert set(err.value.fields) == {"email", "category", "school"}
    assert err.value.valid == {"category": ["transportation", "devices"], "school": ["lhs", "wms"]}


def test_type_errors_and_unknown_choices_are_reported_together() -> None:
    with pytest.raises(InvalidSubmission) as err:
        parse(category="spaceships", message="")
    assert set(err.value.fields) == {"category", "message"}


def test_oversized_attachment_is_refused_by_name() -> None:
    data = base64.b64encode(b"x" * 101).decode()
    with pytest.raises(InvalidSubmission) as err:
        parse(attachments=[{"filename": "big.bin", "data_base64": data}])
    assert "attachments.0" in err.value.fields


def test_not_an_object() -> None:
    with pytest.raises(InvalidSubmission) as err:
        parse_submission(["a", "list"], **CHOICES)  # type: ignore[arg-type]
    assert err.value.fields == {"body": "expected a JSON object"}


def test_a_phone_on_the_form_is_read_with_the_districts_regions() -> None:
    payload = {"phone": "090 123 4567", "category": "devices", "message": "Screen cracked"}
    vietnam = PhoneRules("1", ["VN"])
    assert parse_submission(payload, **CHOICES, phones=vietnam).phone == "+84901234567"  # type: ignore[arg-type]
    with pytest.raises(InvalidSubmission) as refused:
        parse_submission(payload, **CHOICES)  # type: ignore[arg-type]
    assert refused.value.fields == {"phone": "not a phone number"}
