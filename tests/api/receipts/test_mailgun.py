"""Mailgun's event webhooks: the signature, the events that are final, the Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tests.support.receipts import MAILGUN_KEY, mailgun_event
from wavecom.api.receipts import mailgun
from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptRejected

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def test_a_signed_permanent_failure_is_a_bounce_matched_by_its_message_id() -> None:
    body = mailgun_event(
        "<wavecom.n.0@bank.example>",
        "failed",
        extra={
            "severity": "permanent",
            "delivery-status": {"code": 550, "description": "No such mailbox"},
        },
    )
    doc = mailgun.read(body)
    mailgun.verify(doc, MAILGUN_KEY)
    r = mailgun.parse("bank-mail", doc, NOW)
    assert r is not None
    assert (r.status, r.code, r.message_id, r.reason) == (
        Status.BOUNCED,
        "550",
        "<wavecom.n.0@bank.example>",
        "No such mailbox",
    )


@pytest.mark.parametrize(
    ("event", "extra", "expected"),
    [
        ("delivered", {}, Status.DELIVERED),
        ("complained", {}, Status.COMPLAINED),
        ("failed", {"severity": "temporary"}, None),
        ("opened", {}, None),
    ],
)
def test_events(event: str, extra: dict[str, str], expected: Status | None) -> None:
    r = mailgun.parse("m", mailgun.read(mailgun_event("id@x", event, extra=extra)), NOW)
    assert (r.status if r else None) == expected


def test_another_key_or_no_signature_is_refused() -> None:
    doc = mailgun.read(mailgun_event("id@x", "delivered", key="key-other"))
    with pytest.raises(ReceiptRejected):
        mailgun.verify(doc, MAILGUN_KEY)
    unsigned = orjson.loads(mailgun_event("id@x", "delivered"))
    del unsigned["signature"]
    with pytest.raises(ReceiptRejected):
        mailgun.verify(unsigned, MAILGUN_KEY)
