"""Standard Webhooks signatures on receipts: what the webhook driver signs with, verified.

``webhook-signature`` holds one or more space-separated ``v1,<base64>`` signatures (a sender
rotating its secret signs with both); one that matches HMAC-SHA256 of
``"{webhook-id}.{webhook-timestamp}.{body}"`` under the account's secret is enough. A timestamp
more than :data:`TOLERANCE_S` away from now is refused, so a captured receipt cannot be
replayed later (a replay within it changes nothing: receipts are idempotent).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from wavecom.core.errors import ReceiptRejected
from wavecom.providers.webhook import sign, signing_key

TOLERANCE_S = 300  # the specification's recommendation


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float | None = None) -> str:
    """The ``webhook-id`` of a correctly signed body; :class:`ReceiptRejected` otherwise."""
    webhook_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature")
    if not webhook_id or not stamp or not given:
        raise ReceiptRejected(
            "unsigned: webhook-id, webhook-timestamp and webhook-signature are required"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise ReceiptRejected("webhook-timestamp is not Unix seconds") from None
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_S:
        raise ReceiptRejected(f"webhook-timestamp is more than {TOLERANCE_S}s from now")
    try:
        key = signing_key(secret)
    except ValueError:
        raise ReceiptRejected("the account has no usable signing secret") from None
    expected = sign(key, webhook_id, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in given.split() if s.startswith("v1,")):
        raise ReceiptRejected("webhook-signature does not verify with the account's secret")
    return webhook_id
