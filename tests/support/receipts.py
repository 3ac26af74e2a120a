"""Builders of delivery receipts as the providers send them (Mailgun, DSN, Standard Webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

MAILGUN_KEY = "key-" + "5eed" * 8


def mailgun_event(
    message_id: str, event: str, key: str = MAILGUN_KEY, extra: dict[str, Any] | None = None
) -> bytes:
    """An event as Mailgun POSTs it, signed as Mailgun documents."""
    timestamp, token = str(int(time.time())), os.urandom(25).hex()
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data = {
        "event": event,
        "timestamp": time.time(),
        "id": os.urandom(8).hex(),
        "recipient": "user3@example.com",
        "message": {"headers": {"message-id": message_id.strip("<>")}},
        **(extra or {}),
    }
    body = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": data,
    }
    return orjson.dumps(body)


def standard_webhook(secret: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, signed by the reference package."""
    msg_id = "msg_" + os.urandom(8).hex()
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def delivery_report(message_id: str, action: str, status: str) -> bytes:
    """An RFC 3464 report as a relay mails it back (the original's headers returned)."""
    return (
        "From: MAILER-DAEMON@relay.bank.example\r\n"
        "To: otp@bank.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.bank.example\r\n"
        "Arrival-Date: Sun, 6 Dec 2026 10:00:00 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822; user6@example.com\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <user6@example.com>: Recipient address rejected\r\n"
        "Last-Attempt-Date: Sun, 6 Dec 2026 10:00:05 +0000\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: otp@bank.example\r\n"
        "To: user6@example.com\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: Your code\r\n"
        "\r\n"
        "--B--\r\n"
    ).encode()
