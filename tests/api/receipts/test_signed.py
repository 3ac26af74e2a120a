"""Standard Webhooks on receipts, against the ``standardwebhooks`` reference package."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from wavecom.api.receipts import signed
from wavecom.core.errors import ReceiptRejected

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
BODY = b'{"data": {"messageId": "gw_1", "status": "delivered"}}'


def headers(secret: str, at: datetime, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, BODY.decode()),
    }


def test_a_body_the_reference_package_signed_verifies() -> None:
    assert signed.verify(headers(SECRET, datetime.now(UTC)), BODY, SECRET) == "msg_1"


def test_one_matching_signature_of_several_is_enough() -> None:
    now = datetime.now(UTC)
    h = headers(SECRET, now)
    h["webhook-signature"] = headers(OLD, now)["webhook-signature"] + " " + h["webhook-signature"]
    assert signed.verify(h, BODY, SECRET) == "msg_1"


def test_wrong_stale_tampered_or_missing_is_refused() -> None:
    now = datetime.now(UTC)
    for bad, body in (
        (headers(OLD, now), BODY),
        (headers(SECRET, now - timedelta(minutes=6)), BODY),
        (headers(SECRET, now), BODY + b" "),
        ({}, BODY),
        ({**headers(SECRET, now), "webhook-timestamp": "soon"}, BODY),
    ):
        with pytest.raises(ReceiptRejected):
            signed.verify(bad, body, SECRET, now=time.time())
    with pytest.raises(ReceiptRejected):
        signed.verify(headers(SECRET, now), BODY, "whsec_short")
