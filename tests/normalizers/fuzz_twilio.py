"""Property tests of the Twilio webhook parsers: whatever arrives is parameters or fields, or InvalidPayload (which the
channel answers 400, or 403 when the bytes could not have been signed); the signature check agrees with Twilio's SDK
on any form, repeated parameters included."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio.verify import TwilioVerifier
from gateway.errors import BadRequest, Forbidden
from gateway.server.http import InboundRequest
from gateway.settings import TwilioSettings
from normalizers.twilio_sms import (
    MAX_MEDIA,
    FormParams,
    InvalidPayload,
    Keywords,
    delivery_fields,
    keyword_language,
    parse_form,
    parse_json,
    recording_fields,
    sms_fields,
)
from tests.normalizers.fuzzing import FUZZ, JSON_VALUES, ODD_STRINGS, PAYLOADS, mutated

TOKEN = "fuzz-twilio-token"
URL = "https://intake.district.example.org/hooks/twilio/sms?x=1"
FORMS = {p.name: dict(parse_qsl(p.read_text().strip(), keep_blank_values=True)) for p in PAYLOADS.glob("twilio/*.form")}
KEYWORDS = Keywords(("STOP", "PARAR"), ("START",), ("HELP", "AYUDA"), ("STATUS", "状态"), ("NEW", "NUEVO"))
# Any Unicode text but lone surrogates, which no UTF-8 body can carry.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
FIELD_NAMES = st.sampled_from(["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                               "MediaContentType0", "MessageStatus", "ErrorCode", "CallSid", "RecordingSid",
                               "RecordingUrl", "RecordingDuration", "TranscriptionText", "Digits"])  # fmt: skip


def verifier() -> TwilioVerifier:
    conf = TwilioSettings.model_validate(
        {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN, "numbers": {"main": {"number": "+15555550100"}}}
    )
    return TwilioVerifier(conf)


VERIFIER = verifier()


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda s: s.encode("utf-8", "surrogatepass"), st.text(max_size=100)))
@example(b"a")  # a field without "="
@example(b"a=%ff%fe&b=%&c=%zz")  # undecodable and broken escapes
@example(b"\xff=1")
def test_any_body_is_parameters_or_invalid(body: bytes) -> None:
    try:
        params = parse_form(body)
    except InvalidPayload:
        return
    assert isinstance(params, FormParams)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@FUZZ
@given(st.lists(st.tuples(TEXT | FIELD_NAMES, TEXT | ODD_STRINGS), max_size=8))
@example([("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"), ("Sid", "CA123")])
def test_a_form_keeps_every_value_of_a_repeated_name_in_order(pairs: list[tuple[str, str]]) -> None:
    params = parse_form(urlencode(pairs).encode())
    for name in {n for n, _ in pairs}:
        values = [v for n, v in pairs if n == name]
        assert params.getall(name) == values
        assert params[name] == values[-1]
    assert set(params) == {n for n, _ in pairs}


@FUZZ
@given(st.lists(st.tuples(TEXT | FIELD_NAMES, TEXT | ODD_STRINGS), max_size=8))
@example([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")])
def test_any_form_twilios_sdk_signs_is_accepted_and_a_changed_one_refused(pairs: list[tuple[str, str]]) -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, MultiDict(pairs))
    body = urlencode(pairs).encode()
    headers = {"x-twilio-signature": signature}
    params = VERIFIER.verified_params(InboundRequest("POST", "/hooks/twilio/sms", URL, headers, {}, body))
    assert {k: params.getall(k) for k in params} == {n: [v for m, v in pairs if m == n] for n, _ in pairs}
    changed = body + b"&Injected=1"
    with pytest.raises(Forbidden):
        VERIFIER.verified_params(InboundRequest("POST", "/hooks/twilio/sms", URL, headers, {}, changed))


@FUZZ
@given(
    st.binary(max_size=200),
    st.text(max_size=40),
    st.sampled_from(["application/x-www-form-urlencoded", "application/json", ""]),
)
def test_any_request_is_parameters_or_a_documented_refusal(body: bytes, signature: str, ctype: str) -> None:
    url = URL + "&bodySHA256=x" if ctype == "application/json" else URL
    req = InboundRequest(
        "POST", "/hooks/twilio/sms", url, {"x-twilio-signature": signature, "content-type": ctype}, {}, body
    )
    try:
        VERIFIER.verified_params(req)
    except (Forbidden, BadRequest) as exc:
        assert exc.status in (400, 403)


@FUZZ
@given(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES))
@example(b'{"NumMedia": ' + b"1" * 5000 + b"}")  # past Python's 4,300-digit limit for int(): a ValueError
@example(b"[" * 100_000 + b"]" * 100_000)  # past the recursion limit: a RecursionError
def test_any_json_body_is_parameters_or_invalid(body: bytes) -> None:
    try:
        params = parse_json(body)
    except InvalidPayload:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


def _str_values(form: object) -> dict[str, str]:
    # Form parameters are always strings: junk of other types is written as the text a form would carry.
    assert isinstance(form, dict)
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}


@FUZZ
@given(
    mutated(FORMS["inbound_mms.form"], keys=FIELD_NAMES).map(_str_values)
    | st.dictionaries(FIELD_NAMES, TEXT | ODD_STRINGS, max_size=8)
)
@example({**FORMS["inbound_sms.form"], "NumMedia": "²"})  # isdigit() is true, int() refuses it
@example({**FORMS["inbound_sms.form"], "NumMedia": "9" * 5000})  # past int()'s 4,300 digits
def test_any_inbound_text_is_fields_or_invalid(params: dict[str, str]) -> None:
    try:
        fields = sms_fields(params)
    except InvalidPayload as exc:
        assert exc.fields
        return
    assert fields.message_sid and fields.account_sid and fields.sender and fields.to
    assert len(fields.media) <= MAX_MEDIA
    KEYWORDS.classify(fields.body)
    KEYWORDS.split_new(fields.body)
    keyword_language(fields.body)


@FUZZ
@given(mutated(FORMS["status_delivered.form"], keys=FIELD_NAMES).map(_str_values))
@example({**FORMS["status_delivered.form"], "MessageStatus": "failed", "ErrorCode": "²"})  # int() refuses it
def test_any_status_callback_is_fields_or_invalid(params: dict[str, str]) -> None:
    try:
        fields = delivery_fields(params)
    except InvalidPayload:
        return
    assert fields.message_sid and fields.status
    assert fields.error_code == "" or int(fields.error_code) >= 0  # read with int() by the status hook


RECORDING = {
    "CallSid": "CA1",
    "RecordingSid": "RE1",
    "RecordingUrl": "https://api.twilio.com/r",
    "From": "+15552013344",
    "To": "+15555550100",
    "RecordingDuration": "12",
    "TranscriptionText": "hola",
}


@FUZZ
@given(mutated(RECORDING, keys=FIELD_NAMES).map(_str_values))
@example({**RECORDING, "RecordingDuration": "²"})
@example({**RECORDING, "RecordingDuration": "9" * 5000})
def test_any_voicemail_is_fields_or_invalid(params: dict[str, str]) -> None:
    try:
        fields = recording_fields(params)
    except InvalidPayload:
        return
    assert fields.duration_s >= 0
