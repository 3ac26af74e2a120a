"""``wavecom.store.documents``: the builders of notification documents and timeline entries
(every field intake stores, deterministic step ids, the trace id kept), the queue message made
from a stored document, and ``as_read``, the filter of a conditional write that holds only while
the document is as it was read (on the real database)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from wavecom.core.constants import NOTIFICATIONS, Channel, Priority, Status
from wavecom.store import Doc, Store, job_of, log_entry, new_notification, traced
from wavecom.store.documents import CANCELLABLE, as_read, processing_step, waiting_status

NOW = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def built(**given: object) -> Doc:
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "channel": Channel.EMAIL,
        "recipient": "ada@example.com",
        "subject": "Hello",
        "message": "Hi Ada",
        "priority": Priority.CRITICAL,
        "metadata": {"order": "42"},
        "max_retries": 5,
        "scheduled_at": None,
        "now": NOW,
        "recipient_hash": "abc123",
    }
    return new_notification(**{**fields, **given})  # type: ignore[arg-type]


def test_a_new_notification_has_every_field_intake_stores_and_is_queued() -> None:
    d = built()
    assert isinstance(d["_id"], ObjectId)
    timeline = d.pop("timeline")
    assert d == {
        "_id": d["_id"],
        "tenantId": "acme",
        "type": "EMAIL",
        "recipient": "ada@example.com",
        "recipientHash": "abc123",
        "subject": "Hello",
        "message": "Hi Ada",
        "status": "QUEUED",
        "priority": "CRITICAL",
        "retryCount": 0,
        "round": 0,
        "maxRetries": 5,
        "metadata": {"order": "42"},
        "createdAt": NOW,
        "updatedAt": NOW,
    }  # no scheduledAt, reference or expiresAt unless given
    oid = d["_id"]
    assert timeline == [
        {
            "_id": f"{oid}:0:0",
            "status": "PENDING",
            "message": "Notification created",
            "timestamp": NOW,
        },
        {"_id": f"{oid}:0:1", "status": "QUEUED", "message": "Added to queue", "timestamp": NOW},
    ]


def test_a_scheduled_notification_with_a_reference_and_an_expiry_keeps_them() -> None:
    at, until = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    d = built(scheduled_at=at, reference="order-42", expires_at=until)
    assert (d["status"], d["scheduledAt"], d["reference"], d["expiresAt"]) == (
        "SCHEDULED",
        at,
        "order-42",
        until,
    )
    assert [(e["status"], e["message"]) for e in d["timeline"]] == [
        ("PENDING", "Notification created"),
        ("SCHEDULED", "Scheduled for later delivery"),
    ]


def test_every_new_notification_has_its_own_id_and_step_ids() -> None:
    a, b = built(), built()
    assert a["_id"] != b["_id"]
    assert {e["_id"] for e in a["timeline"]}.isdisjoint(e["_id"] for e in b["timeline"])


def test_a_log_entry_keeps_extra_fields_as_metadata_and_the_trace_id_only() -> None:
    assert log_entry("n:w1:p", Status.SENT, "sent", NOW) == {
        "_id": "n:w1:p",
        "status": "SENT",
        "message": "sent",
        "timestamp": NOW,
    }
    entry = log_entry("n:w1:o", Status.FAILED, "boom", NOW, trace=TRACE, attempt=2, code="x")
    assert entry["metadata"] == {"attempt": 2, "code": "x"}
    assert entry["traceId"] == "0af7651916cd43dd8448eb211c80319c"


def test_traced_keeps_the_traceparent_and_marks_every_step_and_untraced_changes_nothing() -> None:
    d = built()
    untouched = {**d, "timeline": [dict(e) for e in d["timeline"]]}
    traced(d, "")
    assert d == untouched
    traced(d, TRACE)
    assert d["traceparent"] == TRACE
    assert [e["traceId"] for e in d["timeline"]] == ["0af7651916cd43dd8448eb211c80319c"] * 2


def test_a_stored_document_becomes_the_job_a_worker_needs() -> None:
    until = NOW + timedelta(minutes=5)
    d = built(expires_at=until)
    d.update(retryCount=2, round=3, traceparent=TRACE, heldBy="breaker")
    job = job_of(d)
    assert asdict(job) == {
        "id": str(d["_id"]),
        "tenant_id": "acme",
        "type": Channel.EMAIL,
        "recipient": "ada@example.com",
        "message": "Hi Ada",
        "priority": Priority.CRITICAL,
        "subject": "Hello",
        "metadata": {"order": "42"},
        "attempt": 2,
        "max_retries": 5,
        "accepted_ms": int(NOW.timestamp() * 1000),
        "round": 3,
        "retaken": False,
        "trace": TRACE,
        "expires_ms": int(until.timestamp() * 1000),
        "held": "breaker",
        "kind": ("EMAIL", "CRITICAL"),  # made from type and priority, for the counters
    }
    bare = job_of(built())
    assert (bare.expires_ms, bare.held, bare.trace, bare.attempt) == (0, "", "", 0)


def test_a_claims_processing_step_and_the_waiting_status_follow_the_attempt() -> None:
    job = job_of(built())
    step = processing_step(job, "w1", NOW)
    assert step["_id"] == f"{job.id}:w1:p"
    assert (step["status"], step["metadata"]) == ("PROCESSING", {"attempt": 0})
    assert waiting_status(job) is Status.QUEUED
    retry = replace(job, attempt=1)
    assert waiting_status(retry) is Status.RETRYING
    assert {waiting_status(job).value, waiting_status(retry).value, "SCHEDULED"} == set(CANCELLABLE)


async def test_as_read_matches_the_document_only_while_it_is_as_read(store: Store) -> None:
    d = built()
    await store.notifications.insert([d])
    coll = store.db[NOTIFICATIONS]
    read = await coll.find_one({"_id": d["_id"]})
    assert read is not None
    assert as_read(read) == {"_id": d["_id"], "status": "QUEUED", "retryCount": 0, "round": 0}
    assert await coll.count_documents(as_read(read)) == 1
    for change in ({"status": "PROCESSING"}, {"retryCount": 1}, {"round": 1}):
        await coll.update_one({"_id": d["_id"]}, {"$set": change})
        assert await coll.count_documents(as_read(read)) == 0
        await coll.update_one(
            {"_id": d["_id"]}, {"$set": {"status": "QUEUED", "retryCount": 0, "round": 0}}
        )
    # a document stored before retryCount and round existed reads as 0 for both
    legacy = {"_id": ObjectId(), "status": "QUEUED"}
    assert as_read(legacy) == {**legacy, "retryCount": 0, "round": 0}
