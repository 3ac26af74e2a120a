"""Notification documents and their timeline entries, as intake and the workers write them.

Pure functions: no database access. The document is the notification's whole record: its
current state and its timeline (the API's ``logs``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from wavecom.core.constants import Channel, Priority, Status
from wavecom.core.messages import DeliveryJob

Doc = dict[str, Any]

# a notification in one of these states waits for a delivery round and can be cancelled
CANCELLABLE = (Status.SCHEDULED.value, Status.QUEUED.value, Status.RETRYING.value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_read(doc: Doc) -> Doc:
    """A filter term matching ``doc`` only while it is in the state it was read in (its
    status, attempt and round): a conditional write by a scan that read it."""
    return {
        "_id": doc["_id"],
        "status": doc["status"],
        "retryCount": doc.get("retryCount", 0),
        "round": doc.get("round", 0),
    }


def reference_key(tenant_id: str, reference: str) -> str:
    """The one field the unique index on a tenant's references holds (``indexes`` says why
    one field): unambiguous, since a tenant id has no ``:`` (``constants.valid_tenant``)."""
    return f"{tenant_id}:{reference}"


def provider_key(message_id: str, provider: str) -> str:
    """The one field the unique index on (message id, provider account) holds: unambiguous
    at its last ``:``, since an account's name is a DNS label."""
    return f"{message_id}:{provider}"


def log_entry(
    log_id: str,
    status: Status,
    message: str,
    at: datetime,
    *,
    trace: str = "",
    **extra: Any,
) -> Doc:
    """One step of a notification's timeline.

    Step ids are deterministic (notification id, then the claim or intake step), so a step
    can be named again: a racer reads back whether its own step is there, and the counters'
    repair counts a dead writer's changes by them (``counters``), which is why no step is ever
    removed (a released claim pushes a step of its own). ``trace``: the W3C
    traceparent of the step's span, whose trace id the entry keeps as ``traceId``.
    """
    entry: Doc = {"_id": log_id, "status": status.value, "message": message, "timestamp": at}
    if extra:
        entry["metadata"] = extra
    if trace:
        entry["traceId"] = trace[3:35]
    return entry


def traced(doc: Doc, traceparent: str) -> None:
    """Record on a new notification the trace it was accepted in: the document keeps the
    traceparent (a relay's publish and a replay continue or link to it) and each timeline
    entry the trace id. Nothing when untraced."""
    if not traceparent:
        return
    doc["traceparent"] = traceparent
    for entry in doc["timeline"]:
        entry["traceId"] = traceparent[3:35]


def processing_step(job: DeliveryJob, token: str, at: datetime) -> Doc:
    """The PROCESSING step of a claimed round."""
    return log_entry(
        f"{job.id}:{token}:p",
        Status.PROCESSING,
        "Worker started processing",
        at,
        trace=job.trace,
        attempt=job.attempt,
    )


def waiting_status(job: DeliveryJob) -> Status:
    """The state a notification is in while ``job``'s round waits for a worker."""
    return Status.QUEUED if job.attempt == 0 else Status.RETRYING


def new_notification(
    *,
    tenant_id: str,
    channel: Channel,
    recipient: str,
    subject: str | None,
    message: str,
    priority: Priority,
    metadata: Doc,
    max_retries: int,
    scheduled_at: datetime | None,
    now: datetime,
    recipient_hash: str,
    reference: str | None = None,
    expires_at: datetime | None = None,
) -> Doc:
    """A notification document as intake stores it (seed 003's fields plus tenantId, timeline,
    the recipient's keyed hash for lookups, the tenant's own ``reference`` when given and
    ``expiresAt`` when it must not be sent after a time)."""
    oid = ObjectId()
    status = Status.SCHEDULED if scheduled_at else Status.QUEUED
    timeline = [log_entry(f"{oid}:0:0", Status.PENDING, "Notification created", now)]
    if scheduled_at:
        timeline.append(
            log_entry(f"{oid}:0:1", Status.SCHEDULED, "Scheduled for later delivery", now)
        )
    else:
        timeline.append(log_entry(f"{oid}:0:1", Status.QUEUED, "Added to queue", now))
    doc: Doc = {
        "_id": oid,
        "tenantId": tenant_id,
        "type": channel.value,
        "recipient": recipient,
        "recipientHash": recipient_hash,
        "subject": subject,
        "message": message,
        "status": status.value,
        "priority": priority.value,
        "retryCount": 0,
        "round": 0,
        "maxRetries": max_retries,
        "metadata": metadata,
        "createdAt": now,
        "updatedAt": now,
        "timeline": timeline,
    }
    if scheduled_at:
        doc["scheduledAt"] = scheduled_at
    if reference is not None:
        doc["reference"] = reference
        doc["referenceKey"] = reference_key(tenant_id, reference)
    if expires_at is not None:
        doc["expiresAt"] = expires_at
    return doc


def job_of(doc: Doc) -> DeliveryJob:
    """The queue message for a stored notification."""
    created: datetime = doc["createdAt"]
    return DeliveryJob(
        id=str(doc["_id"]),
        tenant_id=doc["tenantId"],
        type=Channel(doc["type"]),
        recipient=doc["recipient"],
        message=doc["message"],
        priority=Priority(doc["priority"]),
        subject=doc.get("subject"),
        metadata=doc.get("metadata") or {},
        attempt=int(doc.get("retryCount", 0)),
        max_retries=int(doc.get("maxRetries", 3)),
        accepted_ms=int(created.timestamp() * 1000),
        round=int(doc.get("round", 0)),
        trace=doc.get("traceparent", ""),
        expires_ms=int(expires.timestamp() * 1000) if (expires := doc.get("expiresAt")) else 0,
        held=doc.get("heldBy") or "",
    )
