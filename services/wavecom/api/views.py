"""Stored documents as clients see them (seed 003's JSON shapes)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from wavecom.store import Doc, Page

_PUBLIC_FIELDS = (
    "tenantId",
    "reference",
    "type",
    "recipient",
    "subject",
    "message",
    "status",
    "priority",
    "retryCount",
    "maxRetries",
    "metadata",
    "scheduledAt",
    "expiresAt",
    "nextAttemptAt",
    "sentAt",
    "failedAt",
    "error",
    "provider",
    "providerMessageId",
    "receipt",
    "processingTimeMs",
    "deadLetter",
    "cancelledAt",
    "expiredAt",
    "expiredWhere",
    "replayedAt",
    "createdAt",
    "updatedAt",
)


def iso(value: datetime) -> str:
    """``2024-12-11T10:30:00.000Z``"""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def notification(doc: Doc) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": str(doc["_id"])}
    for key in _PUBLIC_FIELDS:
        value = doc.get(key)
        if value is not None:
            out[key] = _plain(value)
    traceparent = doc.get("traceparent")
    if traceparent:  # the trace it was accepted (or last replayed) in
        out["traceId"] = traceparent[3:35]
    return out


def logs(doc: Doc) -> list[dict[str, Any]]:
    nid = str(doc["_id"])
    entries = []
    for step in doc.get("timeline", []):
        entry = {
            "_id": step["_id"],
            "notificationId": nid,
            "status": step["status"],
            "message": step["message"],
            "timestamp": iso(step["timestamp"]),
        }
        if step.get("metadata"):
            entry["metadata"] = step["metadata"]
        if step.get("traceId"):
            entry["traceId"] = step["traceId"]
        entries.append(entry)
    return entries


def page(result: Page, current: int, limit: int) -> dict[str, Any]:
    """Seed 003's list shape: ``{notifications, pagination}``, and ``nextCursor``."""
    out: dict[str, Any] = {
        "notifications": [notification(d) for d in result.items],
        "pagination": {
            "currentPage": current,
            "totalPages": math.ceil(result.total / limit) if result.total else 0,
            "totalItems": result.total,
            "totalItemsExact": result.exact,
            "itemsPerPage": limit,
        },
    }
    if result.next_after is not None:
        out["nextCursor"] = cursor(*result.next_after)
    return out


def replayed(ids: list[str]) -> dict[str, Any]:
    """A replay's answer (``ReplayEnvelope``): how many dead letters were queued again, which."""
    return {"success": True, "data": {"replayed": len(ids), "ids": ids}}


CURSOR_PATTERN = r"^[0-9]{1,13}-[0-9a-f]{24}$"  # epoch ms: up to the year 2286


def cursor(created: datetime, oid: ObjectId) -> str:
    """An item's place in the newest-first order: ``<createdAt in epoch ms>-<id>``."""
    return f"{int(created.timestamp() * 1000)}-{oid}"


def parse_cursor(text: str) -> tuple[datetime, ObjectId]:
    """The place a ``cursor`` names; ValueError when it is not one."""
    ms, _, oid = text.partition("-")
    if not ms.isdigit() or not ObjectId.is_valid(oid) or len(oid) != 24:
        raise ValueError("is not a cursor this API gave (nextCursor)")
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC), ObjectId(oid)
