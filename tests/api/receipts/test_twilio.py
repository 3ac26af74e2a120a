"""Twilio's status callbacks: the signature as Twilio documents it, the URLs, the mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wavecom.api.receipts import twilio
from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid, ReceiptRejected
from wavecom.providers.twilio import callback_url

NOW = datetime(2026, 12, 6, tzinfo=UTC)
SID = "AC" + "0" * 32


def test_the_signature_is_twilios_documented_example() -> None:
    # https://www.twilio.com/docs/usage/security#validating-requests
    form = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature(url, form, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    twilio.verify("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", [url], form, "12345")
    with pytest.raises(ReceiptRejected):
        twilio.verify("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", [url], form, "54321")
    with pytest.raises(ReceiptRejected):
        twilio.verify(None, [url], form, "12345")


def test_behind_a_proxy_the_public_url_is_the_one_signed() -> None:
    public = "https://notify.bank.example/edge"
    sent = callback_url(public, "bank-sms")
    assert sent == "https://notify.bank.example/edge/api/receipts/twilio/bank-sms"
    urls = twilio.candidate_urls(
        "http://10.0.0.7:8000/api/receipts/twilio/bank-sms",
        "/api/receipts/twilio/bank-sms",
        public,
        None,
    )
    assert urls == [
        "https://notify.bank.example/edge/api/receipts/twilio/bank-sms",
        "http://10.0.0.7:8000/api/receipts/twilio/bank-sms",
    ]
    form = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    twilio.verify(twilio.signature(sent, form, "t"), urls, form, "t")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        ("delivered", "", Status.DELIVERED),
        ("undelivered", "30003", Status.UNDELIVERED),
        ("failed", "30008", Status.UNDELIVERED),
        ("sent", "", None),
        ("queued", "", None),
    ],
)
def test_final_statuses_map_with_their_error_code(
    status: str, code: str, expected: Status | None
) -> None:
    form = [("AccountSid", SID), ("MessageSid", "SM1"), ("MessageStatus", status)]
    if code:
        form.append(("ErrorCode", code))
    r = twilio.parse("bank-sms", form, SID, NOW)
    if expected is None:
        assert r is None
        return
    assert r is not None
    assert (r.status, r.code, r.message_id, r.provider) == (
        expected,
        code or None,
        "SM1",
        "bank-sms",
    )


def test_another_account_or_a_missing_sid_is_refused() -> None:
    with pytest.raises(ReceiptRejected):
        twilio.parse("x", [("AccountSid", "AC" + "1" * 32), ("MessageSid", "SM1")], SID, NOW)
    with pytest.raises(ReceiptInvalid):
        twilio.parse("x", [("MessageStatus", "delivered")], SID, NOW)
