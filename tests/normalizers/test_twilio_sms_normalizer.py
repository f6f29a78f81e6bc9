"""normalizers.twilio_sms against the recorded payloads in tests/payloads/twilio/, and the keyword rules."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from normalizers.twilio_sms import (
    InvalidPayload,
    Keywords,
    delivery_fields,
    is_phone,
    parse_form,
    parse_json,
    recording_fields,
    sms_fields,
)
from tests.support.gateway import REPO

PAYLOADS = REPO / "tests" / "payloads" / "twilio"
KEYWORDS = Keywords(
    opt_out=("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "PARAR"),
    opt_in=("START", "UNSTOP", "YES"),
    help=("HELP", "INFO", "AYUDA"),
    status=("STATUS", "ESTADO", "状态"),
    new=("NEW", "NUEVO"),
)
VALID = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC1", "From": "+1", "To": "+2"}


def load(name: str) -> dict[str, str]:
    raw = (PAYLOADS / name).read_bytes()
    return parse_json(raw) if name.endswith(".json") else parse_form(raw)


def test_a_plain_text() -> None:
    f = sms_fields(load("inbound_sms.form"))
    assert (f.sender, f.to, f.messaging_service_sid) == ("+15552013344", "+15555550100", "")
    assert f.body == "The 7:10 bus to Lincoln did not come this morning."
    assert f.message_sid == "SM1f0e6a3c2b9d48e7a5c4b3a29180f7e6"
    assert f.media == ()


def test_a_picture_message_lists_its_media_in_order() -> None:
    f = sms_fields(load("inbound_mms.form"))
    assert f.body == "Esta es la parada del autobús"
    assert [m.content_type for m in f.media] == ["image/jpeg", "image/png"]
    assert f.media[0].url.endswith(
        "/Messages/MM7c2d9e1f0a3b4c5d6e7f8091a2b3c4d5/Media/ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    )


def test_a_messaging_service_sender() -> None:
    f = sms_fields(load("inbound_stop_messaging_service.form"))
    assert f.messaging_service_sid == "MG7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"
    assert KEYWORDS.classify(f.body) == "opt_out"


def test_a_json_body_reads_like_the_form() -> None:
    f = sms_fields(load("inbound_sms.json"))
    assert f.body == "Tôi cần giúp đỡ với máy tính của con tôi"
    assert f.to == "+15555550100"


def test_status_callbacks() -> None:
    assert delivery_fields(load("status_delivered.form")).status == "delivered"
    failed = delivery_fields(load("status_undelivered_30006.form"))
    assert (failed.status, failed.error_code) == ("undelivered", "30006")


def test_a_voicemail_recording() -> None:
    f = recording_fields(load("voice_record_action.form"))
    assert (f.sender, f.to, f.duration_s) == ("+15552013344", "+15555550100", 14)
    assert f.recording_url.endswith("/Recordings/RE5d6e7f8091a2b3c4d5e6f708192a3b4c")


@pytest.mark.parametrize(
    ("params", "wrong"),
    [
        ({}, ["AccountSid", "From", "MessageSid", "To"]),
        ({"MessageSid": "nope", "AccountSid": "AC1", "From": "+1", "To": "+2"}, ["MessageSid"]),
        (
            {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC1", "From": "+1", "To": "+2", "NumMedia": "11"},
            ["NumMedia"],
        ),
        (
            {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC1", "From": "+1", "To": "+2", "NumMedia": "1"},
            ["MediaUrl0"],
        ),
    ],
)
def test_a_malformed_message_names_every_wrong_field(params: dict[str, str], wrong: list[str]) -> None:
    with pytest.raises(InvalidPayload) as caught:
        sms_fields(params)
    assert caught.value.fields == wrong


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", "opt_out"), ("stop", "opt_out"), ("  Stop  ", "opt_out"), ("STOP.", "opt_out"), ("parar", "opt_out"),
        ("OptOut", "opt_out"), ("start", "opt_in"), ("Unstop", "opt_in"), ("yes", "opt_in"), ("HELP", "help"),
        ("ayuda", "help"), ("info", "help"), ("status", "status"), ("Estado", "status"), ("状态", "status"),
        ("NEW", "new"), ("Stop the bus from leaving early", None), ("please stop", None), ("STOP STOP", None),
        ("Yes the bus came", None), ("", None),
    ],
)  # fmt: skip
def test_a_keyword_is_the_whole_message_in_any_case(body: str, kind: str | None) -> None:
    assert KEYWORDS.classify(body) == kind


def test_new_followed_by_a_message_opens_a_request_with_the_rest() -> None:
    assert KEYWORDS.split_new("NEW: my laptop is broken") == "my laptop is broken"
    assert KEYWORDS.split_new("Nuevo el bus no vino") == "el bus no vino"
    assert KEYWORDS.split_new("News from school") is None
    assert KEYWORDS.split_new("NEW") is None


def test_caller_ids_that_are_not_phone_numbers() -> None:
    assert is_phone("+15552013344")
    assert not is_phone("Anonymous")
    assert not is_phone("client:Anna")


def test_bodies_that_are_not_form_or_json_are_refused() -> None:
    with pytest.raises(InvalidPayload):
        parse_form(b"\xff\xfe")
    with pytest.raises(InvalidPayload):
        parse_json(b"[1, 2]")


FORM_BODIES = [
    b"",
    b"Body=Hello+world&From=%2B15552013344",
    b"Body=&NumMedia=0",
    b"Body=a%3Db%26c&X=1=2",
    b"Body=%C2%BFLleg%C3%B3%3F",
    b"Body=%E4%BD%A0%E5%A5%BD+%F0%9F%9A%8C",
    b"Body=%ff%fe+broken+escape&To=%2",
    b"A=1&A=2",
    b"%42ody=renamed+key&B+C=space+in+name",
    "Body=raw ü and +".encode(),
]
MALFORMED_FORMS = [b"Body", b"Body=1&&To=2", b"Body=1&", b"&", b"Body=1&To"]


@pytest.mark.parametrize("body", FORM_BODIES)
def test_form_bodies_read_as_urllib_reads_them(body: bytes) -> None:
    text = body.decode()
    assert parse_form(body) == dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))


@pytest.mark.parametrize("body", MALFORMED_FORMS)
def test_form_bodies_with_a_field_without_a_value_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)  # urllib refuses them too
    with pytest.raises(InvalidPayload):
        parse_form(body)


def test_a_repeated_name_reads_as_its_last_value_and_keeps_every_value_for_the_signature() -> None:
    params = parse_form(b"Digits=5678&Sid=CA1&Digits=1234&Digits=1234")
    assert params == {"Digits": "1234", "Sid": "CA1"}
    assert params.getall("Digits") == ["5678", "1234", "1234"]
    assert params.getall("Sid") == ["CA1"]
