"""``wavecom.api.receipts.gateway``: the receipt a webhook gateway's verified body carries.

Each final status (any case) maps to its receipt with the account, the message id (a number
too), the gateway's code and reason and its time (else the time it reached us); a status
before the end is answered with no receipt; a body that cannot be read is refused naming the
field. (tests/api/routes/test_receipts.py takes the signed request through the endpoint.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from wavecom.api.receipts.gateway import parse
from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid
from wavecom.store.receipts import ProviderReceipt

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def body(**data: Any) -> bytes:
    return orjson.dumps({"type": "message.status", "data": data})


@pytest.mark.parametrize(
    ("status", "mapped"),
    [
        ("delivered", Status.DELIVERED),
        ("UNDELIVERED", Status.UNDELIVERED),
        ("Bounced", Status.BOUNCED),
        ("complained", Status.COMPLAINED),
    ],
)
def test_each_final_status_is_a_receipt(status: str, mapped: Status) -> None:
    got = parse("bank-gw", body(messageId="gw_1", status=status), NOW)
    assert got == ProviderReceipt(
        provider="bank-gw", message_id="gw_1", status=mapped, at=NOW, source="webhook"
    )


def test_the_code_the_reason_and_the_time_are_the_gateways() -> None:
    got = parse(
        "bank-gw",
        body(
            messageId=42,
            status="undelivered",
            code=30005,
            reason="unknown handset",
            at="2026-01-01T10:00:00.250Z",
        ),
        NOW,
    )
    assert got is not None
    assert got.message_id == "42"
    assert got.code == "30005"
    assert got.reason == "unknown handset"
    assert got.at == datetime(2026, 1, 1, 10, 0, 0, 250000, tzinfo=UTC)


@pytest.mark.parametrize("status", ["queued", "sent", "accepted", "SENT"])
def test_a_status_before_the_end_is_no_receipt(status: str) -> None:
    assert parse("bank-gw", body(messageId="gw_1", status=status), NOW) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", None),
        (b"[1, 2]", "data"),
        (orjson.dumps({"data": "x"}), "data"),
        (body(status="delivered"), "data.messageId"),
        (body(messageId="", status="delivered"), "data.messageId"),
        (body(messageId=True, status="delivered"), "data.messageId"),
        (body(messageId="gw_1"), "data.status"),
        (body(messageId="gw_1", status=""), "data.status"),
        (body(messageId="gw_1", status="delivered", at="yesterday"), "data.at"),
        (body(messageId="gw_1", status="delivered", at="2026-01-01T10:00:00"), "data.at"),
    ],
)
def test_a_body_that_cannot_be_read_names_the_field(raw: bytes, field: str | None) -> None:
    with pytest.raises(ReceiptInvalid) as refused:
        parse("bank-gw", raw, NOW)
    assert refused.value.field == field
