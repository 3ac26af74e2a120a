"""What a status callback says: its event type, its webhook-id, its body and its signature.

One callback per timeline step whose status a tenant can subscribe to. Its ``webhook-id`` is
derived from the notification's id and the step's id, which are deterministic
(``store.documents.log_entry``): whoever offers the step again (the live events, the repair
scan, a restart) derives the same id, so a receiver deduplicates on it.

Ordering: callbacks of one notification are not guaranteed to arrive in order (a retried one
may arrive after a later one); each carries ``sequence``, the step's 1-based position among
the notification's callback steps, so a receiver keeps the highest it has seen.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from wavecom.core.constants import Status
from wavecom.providers.webhook import sign, signing_key
from wavecom.store.documents import Doc

# the statuses a tenant can subscribe to, by event type
EVENT_TYPES: dict[Status, str] = {
    Status.SENT: "notification.sent",
    Status.DELIVERED: "notification.delivered",
    Status.UNDELIVERED: "notification.undelivered",
    Status.BOUNCED: "notification.bounced",
    Status.COMPLAINED: "notification.complained",
    Status.FAILED: "notification.failed",
    Status.EXPIRED: "notification.expired",
    Status.CANCELLED: "notification.cancelled",
}
ALL_EVENTS: tuple[str, ...] = tuple(EVENT_TYPES.values())
_BY_VALUE = {status.value: event for status, event in EVENT_TYPES.items()}
SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes one: ``whsec_`` and base64 of 32 bytes."""
    return "whsec_" + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def new_endpoint_id() -> str:
    return "cb_" + secrets.token_hex(8)


def webhook_id(notification_id: str, step_id: str) -> str:
    """The callback's stable ``webhook-id``: the same for the same notification and step."""
    digest = hashlib.sha256(f"{notification_id}/{step_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def steps(doc: Doc) -> Iterator[tuple[str, int, Doc]]:
    """(event type, sequence, timeline entry) of every callback step in the document."""
    sequence = 0
    for entry in doc.get("timeline") or ():
        event = _BY_VALUE.get(entry.get("status", ""))
        if event is not None:
            sequence += 1
            yield event, sequence, entry


def body(doc: Doc, event: str, sequence: int, entry: Doc) -> bytes:
    """The JSON body POSTed for one step (Standard Webhooks' ``type``/``timestamp``/``data``)."""
    timeline_entry: dict[str, Any] = {
        "id": entry["_id"],
        "status": entry["status"],
        "message": entry.get("message", ""),
        "timestamp": _iso(entry["timestamp"]),
    }
    if entry.get("metadata"):
        timeline_entry["metadata"] = entry["metadata"]
    data = {
        "notificationId": str(doc["_id"]),
        "reference": doc.get("reference"),
        "metadata": doc.get("metadata") or {},
        "type": doc.get("type"),
        "status": entry["status"],
        "sequence": sequence,
        "timelineEntry": timeline_entry,
    }
    return orjson.dumps(
        {"type": event, "timestamp": timeline_entry["timestamp"], "data": data},
        default=str,  # a metadata value the JSON types do not hold (an ObjectId) as text
    )


def signature(secrets_: list[str], msg_id: str, timestamp: int, content: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret, space-separated
    (the current secret first; the previous one while a rotation's grace period runs)."""
    return " ".join(sign(signing_key(s), msg_id, timestamp, content) for s in secrets_)


def headers(secrets_: list[str], msg_id: str, timestamp: int, content: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "WaveCom-Notify-Callbacks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secrets_, msg_id, timestamp, content),
    }
