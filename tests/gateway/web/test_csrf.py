from __future__ import annotations

from gateway.web import csrf

KEY = b"k" * 32
NOW = 1_763_800_000.0


def test_token_verifies_with_the_cookie_it_was_issued_for() -> None:
    cookie = csrf.new_secret()
    verdict = csrf.verify(KEY, cookie, csrf.issue(KEY, cookie, NOW), NOW + 60)
    assert verdict.check is csrf.Check.OK
    assert verdict.nonce


def test_each_page_load_gets_its_own_nonce() -> None:
    cookie = csrf.new_secret()
    first = csrf.verify(KEY, cookie, csrf.issue(KEY, cookie, NOW), NOW)
    second = csrf.verify(KEY, cookie, csrf.issue(KEY, cookie, NOW), NOW)
    assert first.nonce != second.nonce


def test_token_with_another_browsers_cookie_is_invalid() -> None:
    token = csrf.issue(KEY, csrf.new_secret(), NOW)
    assert csrf.verify(KEY, csrf.new_secret(), token, NOW).check is csrf.Check.INVALID


def test_token_signed_with_another_key_is_invalid() -> None:
    cookie = csrf.new_secret()
    assert csrf.verify(KEY, cookie, csrf.issue(b"x" * 32, cookie, NOW), NOW).check is csrf.Check.INVALID


def test_token_with_a_swapped_nonce_is_invalid() -> None:
    cookie = csrf.new_secret()
    _, ts, sig = csrf.issue(KEY, cookie, NOW).split(".")
    forged = f"{csrf.new_secret()}.{ts}.{sig}"
    assert csrf.verify(KEY, cookie, forged, NOW).check is csrf.Check.INVALID


def test_token_with_a_moved_timestamp_is_invalid() -> None:
    cookie = csrf.new_secret()
    nonce, _, sig = csrf.issue(KEY, cookie, NOW - 3 * 3600).split(".")
    forged = f"{nonce}.{int(NOW)}.{sig}"
    assert csrf.verify(KEY, cookie, forged, NOW).check is csrf.Check.INVALID


def test_genuine_token_older_than_two_hours_is_expired_not_invalid() -> None:
    cookie = csrf.new_secret()
    token = csrf.issue(KEY, cookie, NOW - csrf.MAX_AGE_S - 1)
    assert csrf.verify(KEY, cookie, token, NOW).check is csrf.Check.EXPIRED


def test_token_dated_far_in_the_future_is_invalid() -> None:
    cookie = csrf.new_secret()
    token = csrf.issue(KEY, cookie, NOW + 3600)
    assert csrf.verify(KEY, cookie, token, NOW).check is csrf.Check.INVALID


def test_missing_cookie_or_token_is_invalid() -> None:
    cookie = csrf.new_secret()
    token = csrf.issue(KEY, cookie, NOW)
    assert csrf.verify(KEY, "", token, NOW).check is csrf.Check.INVALID
    assert csrf.verify(KEY, cookie, "", NOW).check is csrf.Check.INVALID
