"""Mailgun's event webhooks, for email the SMTP driver relays through Mailgun.

Why Mailgun: the SMTP driver already sends through any relay, and Mailgun is one a bank can
point it at (``smtp.mailgun.org``) with no change; its webhook is authenticated by a shared
secret, HMAC-SHA256 (hex) of ``timestamp + token`` under the domain's HTTP webhook signing key,
so verifying a receipt needs no call out of the API. Amazon SES through SNS would make the API
fetch the signing certificate from the ``SigningCertURL`` of each message (an outbound HTTPS
call from the API, a host allowlist and a certificate cache) and handle SNS's subscription
handshake; SendGrid signs with ECDSA and matches on its own ``sg_message_id``, which the SMTP
relay does not give back. A bank on SES can post SES's bounces as RFC 3464 reports (``dsn``).

The body is JSON: ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``.
Events: ``delivered`` is DELIVERED; ``failed`` with ``severity: permanent`` is BOUNCED (a
temporary failure is retried by Mailgun and changes nothing); ``complained`` is COMPLAINED.
The message is found by ``event-data.message.headers.message-id``, the ``Message-ID`` the
driver set (Mailgun gives it without its angle brackets).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson

from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid, ReceiptRejected
from wavecom.store.receipts import ProviderReceipt


def signature(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature of one webhook call."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def read(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ReceiptInvalid("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise ReceiptInvalid("the body is not a JSON object")
    return doc


def verify(doc: dict[str, Any], signing_key: str) -> None:
    """:class:`ReceiptRejected` unless ``doc['signature']`` verifies with ``signing_key``."""
    sig = doc.get("signature")
    if not isinstance(sig, dict) or not all(
        isinstance(sig.get(k), str) and sig[k] for k in ("timestamp", "token", "signature")
    ):
        raise ReceiptRejected("unsigned: signature.timestamp, .token and .signature are required")
    expected = signature(signing_key, sig["timestamp"], sig["token"])
    if not hmac.compare_digest(expected, sig["signature"]):
        raise ReceiptRejected("signature does not verify with the account's signing key")


def parse(account: str, doc: dict[str, Any], now: datetime) -> ProviderReceipt | None:
    """The receipt a (verified) event carries, or None for an event that changes nothing."""
    event = doc.get("event-data")
    if not isinstance(event, dict):
        raise ReceiptInvalid("event-data is required (an object)", "event-data")
    kind = event.get("event")
    if kind == "delivered":
        status = Status.DELIVERED
    elif kind == "failed" and event.get("severity") == "permanent":
        status = Status.BOUNCED
    elif kind == "complained":
        status = Status.COMPLAINED
    else:
        return None
    headers = (event.get("message") or {}).get("headers") or {}
    message_id = headers.get("message-id") if isinstance(headers, dict) else None
    if not isinstance(message_id, str) or not message_id.strip("<> "):
        raise ReceiptInvalid(
            "event-data.message.headers.message-id is required",
            "event-data.message.headers.message-id",
        )
    delivery = event.get("delivery-status") or {}
    code = delivery.get("code") if isinstance(delivery, dict) else None
    reason = event.get("reason")
    if isinstance(delivery, dict) and delivery.get("description"):
        reason = str(delivery["description"])
    stamp = event.get("timestamp")
    return ProviderReceipt(
        provider=account,
        message_id=f"<{message_id.strip().strip('<>')}>",
        status=status,
        at=datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float) else now,
        code=str(code) if code not in (None, "") else None,
        reason=str(reason) if reason else None,
        source="mailgun",
    )
