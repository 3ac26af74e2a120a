"""Every index the store's queries need, created at start-up on MongoDB and FerretDB v2 alike.

Each entry names the queries it serves. ``tests/store/test_indexes.py`` records every command
the API, the relay and a worker send and fails on any query a collection scan answers.
Unique ``_id`` lookups (keys, tenants, idempotency records, counters, quota buckets, claims
read back by id) need no entry.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from wavecom.constants import API_KEYS, NOTIFICATIONS, OUTBOX, PROVIDERS, SCHEDULE
from wavecom.store.documents import Doc

# the list index for a filter on each field ("" for no filter): page() names it as a hint
BY_FIELD = {
    "": "tenant_created",
    "status": "tenant_status_created",
    "type": "tenant_type_created",
    "priority": "tenant_priority_created",
}

INDEXES: dict[str, list[IndexModel]] = {
    NOTIFICATIONS: [
        # GET /api/notifications, newest first, no filter
        IndexModel(
            [("tenantId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name=BY_FIELD[""],
        ),
        # ?status= (and the dead-letter list, status FAILED, either order); reconcile's stuck
        # scan of one tenant (updatedAt checked on the rows)
        IndexModel(
            [("tenantId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)],
            name=BY_FIELD["status"],
        ),
        # ?type=
        IndexModel(
            [("tenantId", ASCENDING), ("type", ASCENDING), ("createdAt", DESCENDING)],
            name=BY_FIELD["type"],
        ),
        # ?priority=
        IndexModel(
            [("tenantId", ASCENDING), ("priority", ASCENDING), ("createdAt", DESCENDING)],
            name=BY_FIELD["priority"],
        ),
        # reconcile across every tenant (make verify) and the relay's sweeps
        IndexModel([("status", ASCENDING), ("updatedAt", ASCENDING)], name="status_updated"),
    ],
    SCHEDULE: [IndexModel([("dueAt", ASCENDING)], name="due")],
    OUTBOX: [IndexModel([("dueAt", ASCENDING)], name="due")],
    PROVIDERS: [IndexModel([("updatedAt", ASCENDING)], name="fresh")],
    API_KEYS: [IndexModel([("tenantId", ASCENDING), ("createdAt", ASCENDING)], name="by_tenant")],
}


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    """Create what is missing; idempotent (an existing index of the same keys is kept)."""
    for collection, models in INDEXES.items():
        await db[collection].create_indexes(models)
