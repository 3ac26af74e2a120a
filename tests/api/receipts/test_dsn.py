"""RFC 3464 delivery status notifications: the report's parts, its actions, the original id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.receipts import delivery_report
from wavecom.api.receipts import dsn
from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
MID = "<wavecom.abc.0@bank.example>"


def test_a_failed_action_is_a_bounce_with_its_status_code() -> None:
    r = dsn.parse("bank-mail", delivery_report(MID, "failed", "5.1.1"), NOW)
    assert r is not None
    assert (r.status, r.code, r.message_id) == (Status.BOUNCED, "5.1.1", MID)
    assert r.at == datetime(2026, 12, 6, 10, 0, 5, tzinfo=UTC)
    assert r.reason is not None
    assert r.reason.startswith("smtp; 550 5.1.1")


def test_delivered_is_delivered_and_delayed_changes_nothing() -> None:
    delivered = dsn.parse("m", delivery_report(MID, "delivered", "2.0.0"), NOW)
    assert delivered is not None
    assert delivered.status is Status.DELIVERED
    assert dsn.parse("m", delivery_report(MID, "delayed", "4.4.1"), NOW) is None


def test_the_original_may_be_returned_whole() -> None:
    report = delivery_report(MID, "failed", "5.2.2").replace(
        b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822"
    )
    r = dsn.parse("m", report, NOW)
    assert r is not None
    assert r.message_id == MID


def test_anything_else_is_a_400_naming_the_body() -> None:
    with pytest.raises(ReceiptInvalid) as caught:
        dsn.parse("m", b"Subject: hello\r\n\r\nnot a report", NOW)
    assert caught.value.field == "body"
    without_id = delivery_report("", "failed", "5.1.1").replace(b"Message-ID: \r\n", b"")
    with pytest.raises(ReceiptInvalid):
        dsn.parse("m", without_id, NOW)
