"""Receipts from the webhook driver's gateway (a bank's own SMS or push gateway).

The gateway POSTs JSON signed per Standard Webhooks with the account's secret, the same secret
and scheme the driver signs its sends with (``signed.verify``)::

    {"type": "message.status",
     "data": {"messageId": "<the id it answered the send with, else the send's webhook-id>",
              "status": "delivered" | "undelivered" | "bounced" | "complained",
              "code": "<its own code, optional>", "reason": "<optional>",
              "at": "<ISO 8601, optional>"}}

Other statuses (``queued``, ``sent``, ``accepted``) are steps before the end: answered, not
applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid
from wavecom.store.receipts import ALLOWED_FROM, ProviderReceipt

_FINAL = {s.value.lower(): s for s in ALLOWED_FROM}


def parse(account: str, body: bytes, now: datetime) -> ProviderReceipt | None:
    """The receipt a gateway's (verified) body carries, or None for a status not final."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ReceiptInvalid("the body is not JSON") from None
    data: Any = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise ReceiptInvalid("data is required (an object)", "data")
    message_id = data.get("messageId")
    if not isinstance(message_id, str | int) or isinstance(message_id, bool) or message_id == "":
        raise ReceiptInvalid("data.messageId is required", "data.messageId")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise ReceiptInvalid("data.status is required", "data.status")
    mapped: Status | None = _FINAL.get(status.lower())
    if mapped is None:
        return None
    code = data.get("code")
    reason = data.get("reason")
    return ProviderReceipt(
        provider=account,
        message_id=str(message_id),
        status=mapped,
        at=_instant(data.get("at"), now),
        code=str(code) if code is not None else None,
        reason=reason if isinstance(reason, str) else None,
        source="webhook",
    )


def _instant(value: object, now: datetime) -> datetime:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ReceiptInvalid("data.at is not an ISO 8601 time", "data.at") from None
        if at.tzinfo is not None:
            return at
        raise ReceiptInvalid("data.at needs a timezone", "data.at")
    return now
