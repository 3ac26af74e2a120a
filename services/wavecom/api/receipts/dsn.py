"""RFC 3464 delivery status notifications, posted by a bank's own mail relay.

A relay (Postfix, Exchange, an SES-to-HTTP bridge) POSTs the report as it would mail it back:
the raw ``multipart/report; report-type=delivery-status`` message as the body
(``Content-Type: message/rfc822``), signed per Standard Webhooks with the SMTP account's
``receiptsSecret`` (``signed.verify``). The report's third part (``message/rfc822`` or
``text/rfc822-headers``) carries the original ``Message-ID``, which the driver set and stored
as the notification's provider message id. The first recipient block with a final
``Action`` decides: ``failed`` is BOUNCED (``Status`` 5.x.x, or a 4.x.x the relay gave up
on), ``delivered`` is DELIVERED; ``delayed``, ``relayed`` and ``expanded`` change nothing.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from datetime import datetime
from email.message import Message

from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid
from wavecom.store.receipts import ProviderReceipt

_ACTIONS = {"failed": Status.BOUNCED, "delivered": Status.DELIVERED}


def parse(account: str, body: bytes, now: datetime) -> ProviderReceipt | None:
    """The receipt of a delivery status notification, or None when no action is final."""
    report = email.message_from_bytes(body, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report" or (
        str(report.get_param("report-type") or "").lower() != "delivery-status"
    ):
        raise ReceiptInvalid(
            "the body is not a multipart/report; report-type=delivery-status message", "body"
        )
    parts = _messages(report.get_payload())
    if not parts:
        raise ReceiptInvalid("the report has no parts", "body")
    status_part = _part(parts, "message/delivery-status")
    original = _part(parts, "message/rfc822") or _part(parts, "text/rfc822-headers")
    if status_part is None:
        raise ReceiptInvalid("the report has no message/delivery-status part", "body")
    message_id = _message_id(original)
    if not message_id:
        raise ReceiptInvalid("the report does not return the original message's Message-ID", "body")
    blocks = _messages(status_part.get_payload())
    if len(blocks) < 2:
        raise ReceiptInvalid("the delivery-status part has no recipient block", "body")
    for block in blocks[1:]:
        action = str(block.get("Action", "")).strip().lower()
        mapped = _ACTIONS.get(action)
        if mapped is None:
            continue
        code = str(block.get("Status", "")).strip().split(" ")[0] or None
        diagnostic = block.get("Diagnostic-Code")
        return ProviderReceipt(
            provider=account,
            message_id=message_id,
            status=mapped,
            at=_when(block.get("Last-Attempt-Date") or blocks[0].get("Arrival-Date"), now),
            code=code,
            reason=" ".join(str(diagnostic).split()) if diagnostic else f"DSN action {action}",
            source="dsn",
        )
    return None


def _messages(payload: object) -> list[Message]:
    """The parts of a multipart payload (or the blocks of a delivery-status part)."""
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, Message)]


def _part(parts: list[Message], content_type: str) -> Message | None:
    return next((p for p in parts if p.get_content_type() == content_type), None)


def _message_id(original: Message | None) -> str | None:
    if original is None:
        return None
    headers: Message | None
    if original.get_content_type() == "message/rfc822":
        inner = _messages(original.get_payload())
        headers = inner[0] if inner else None
    else:
        text = original.get_payload(decode=True)
        raw = text if isinstance(text, bytes) else b""
        headers = email.message_from_bytes(raw, policy=email.policy.compat32)
    value = headers.get("Message-ID") if headers is not None else None
    return " ".join(str(value).split()) if value else None


def _when(value: object, now: datetime) -> datetime:
    if not value:
        return now
    try:
        at = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return now
    return at if at.tzinfo is not None else now
