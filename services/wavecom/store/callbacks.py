"""Tenants' callback endpoints, and one record per callback each endpoint is owed.

``callbackendpoints``: one document per endpoint (``_id`` ``cb_<16 hex>``): its tenant, URL,
the event types it wants, whether it is enabled, and its signing secret sealed like a provider
account's credentials. Every write bumps the ``callbacks`` document in ``revisions``, which the
callbacks process polls (as the workers poll the providers' one) to pick changes up within
seconds.

``callbacks``: one document per (endpoint, event), ``_id`` ``<endpoint id>:<webhook-id>``. The
``_id`` is the deduplication: the live events and the repair scan may both offer the same
timeline step, and the second insert is a duplicate key that changes nothing. Each record keeps
the exact body it POSTs (every retry sends the same bytes), its state (``pending``,
``delivered``, ``parked``), when it is due next and every attempt.

Only tenants with endpoints have documents here: a tenant without one costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc, utcnow

ENDPOINTS = "callbackendpoints"
CALLBACKS = "callbacks"
_REVISION_ID = "callbacks"
_REPAIR_ID = "callbacks.repair"  # in ``revisions`` too: how far the repair scan has got
_DUPLICATE_KEY = 11000

PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"

# the indexes' names (queries name them as hints)
BY_ENDPOINT_DUE = "endpoint_state_due"
BY_NOTIFICATION = "tenant_notification"
BY_TENANT_STATE = "tenant_state_updated"
BY_STATUS_UPDATED = "status_updated"  # the notifications' index the repair scan reads
_REPAIR_FIELDS = {"tenantId": 1, "type": 1, "reference": 1, "metadata": 1, "timeline": 1}


class Endpoints:
    """The ``callbackendpoints`` collection and the revision the callbacks process polls."""

    def __init__(self, endpoints: AsyncCollection[Doc], revisions: AsyncCollection[Doc]) -> None:
        self.collection = endpoints
        self.revisions = revisions

    async def revision(self) -> int:
        doc = await self.revisions.find_one({"_id": _REVISION_ID}, {"revision": 1})
        return int(doc["revision"]) if doc else 0

    async def _bump(self) -> None:
        # no upsert (FerretDB v2 answers a racing upsert with an internal error): update, and
        # insert the document the first time
        done = await self.revisions.update_one({"_id": _REVISION_ID}, {"$inc": {"revision": 1}})
        if done.matched_count == 0:
            try:
                await self.revisions.insert_one({"_id": _REVISION_ID, "revision": 1})
            except PyMongoError:  # another writer inserted it first
                await self.revisions.update_one({"_id": _REVISION_ID}, {"$inc": {"revision": 1}})

    async def create(self, doc: Doc) -> None:
        await self.collection.insert_one(doc)
        await self._bump()

    async def all(self) -> list[Doc]:
        """Every endpoint of every tenant (the callbacks process's view)."""
        return [d async for d in self.collection.find({}).sort("_id", 1)]

    async def of_tenant(self, tenant: str) -> list[Doc]:
        return [d async for d in self.collection.find({"tenantId": tenant}).sort("createdAt", 1)]

    async def get(self, tenant: str, endpoint_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": endpoint_id, "tenantId": tenant})

    async def change(self, tenant: str, endpoint_id: str, fields: Doc) -> Doc | None:
        """Set ``fields`` on the tenant's endpoint; None when it has no such endpoint."""
        doc = await self.collection.find_one_and_update(
            {"_id": endpoint_id, "tenantId": tenant},
            {"$set": {**fields, "updatedAt": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            await self._bump()
        return doc

    async def delete(self, tenant: str, endpoint_id: str) -> Doc | None:
        doc = await self.collection.find_one_and_delete({"_id": endpoint_id, "tenantId": tenant})
        if doc is not None:
            await self._bump()
        return doc

    async def repaired_to(self) -> datetime | None:
        """Up to when the repair scan has looked (None: it never ran)."""
        doc = await self.revisions.find_one({"_id": _REPAIR_ID})
        return doc["until"] if doc else None

    async def set_repaired_to(self, until: datetime) -> None:
        done = await self.revisions.update_one({"_id": _REPAIR_ID}, {"$set": {"until": until}})
        if done.matched_count == 0:
            try:
                await self.revisions.insert_one({"_id": _REPAIR_ID, "until": until})
            except PyMongoError:
                await self.revisions.update_one({"_id": _REPAIR_ID}, {"$set": {"until": until}})


class Callbacks:
    """The ``callbacks`` collection: what each endpoint is owed, and what came of it."""

    def __init__(
        self, collection: AsyncCollection[Doc], notifications: AsyncCollection[Doc]
    ) -> None:
        self.collection = collection
        self.notifications = notifications

    async def changed_since(
        self, tenants: Sequence[str], statuses: Sequence[str], since: datetime, batch: int = 500
    ) -> AsyncIterator[list[Doc]]:
        """The repair scan's reads: notifications of ``tenants`` in one of ``statuses`` changed
        at or after ``since``, in batches, with the fields a callback needs. The index on
        (status, updatedAt) bounds it; the tenant is checked on the rows (no index of its own:
        it would cost every notification's writes, for every tenant)."""
        query: Doc = {
            "status": {"$in": list(statuses)},
            "updatedAt": {"$gte": since},
            "tenantId": {"$in": list(tenants)},
        }
        cursor = self.notifications.find(query, _REPAIR_FIELDS, hint=BY_STATUS_UPDATED)
        chunk: list[Doc] = []
        async for doc in cursor.batch_size(batch):
            chunk.append(doc)
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def add(self, records: Sequence[Doc]) -> int:
        """Insert the records not there yet; how many were new (a duplicate changes nothing)."""
        if not records:
            return 0
        try:
            # a read of the ids first: the repair scan offers mostly steps already stored,
            # and a failed insert costs the database more than a lookup by _id
            ids = [r["_id"] for r in records]
            cursor = self.collection.find({"_id": {"$in": ids}}, {"_id": 1})
            known = {d["_id"] async for d in cursor}
            records = [r for r in records if r["_id"] not in known]
            if not records:
                return 0
            result = await self.collection.insert_many(list(records), ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise StoreUnavailable(f"could not store callbacks: {exc}") from exc
            return int(exc.details.get("nInserted", len(records) - len(errors)))
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not store callbacks: {exc}") from exc

    async def due(self, endpoint_id: str, now: datetime, limit: int) -> list[Doc]:
        """The endpoint's pending callbacks that are due, the oldest due first."""
        query = {"endpointId": endpoint_id, "state": PENDING, "dueAt": {"$lte": now}}
        cursor = self.collection.find(query, hint=BY_ENDPOINT_DUE).sort("dueAt", 1).limit(limit)
        return [d async for d in cursor]

    async def backlog(self, endpoint_id: str, now: datetime) -> tuple[int, float]:
        """The endpoint's pending callbacks (due now, waiting for a retry or in flight) and
        how long the one due longest has waited, in seconds (0 when none is due): two reads
        of the (endpointId, state, dueAt) index."""
        query = {"endpointId": endpoint_id, "state": PENDING}
        pending = await self.collection.count_documents(query, hint=BY_ENDPOINT_DUE)
        if not pending:
            return 0, 0.0
        cursor = self.collection.find(query, {"dueAt": 1}, hint=BY_ENDPOINT_DUE)
        first = [d async for d in cursor.sort("dueAt", 1).limit(1)]
        if not first:
            return pending, 0.0
        return pending, max(0.0, (now - first[0]["dueAt"]).total_seconds())

    async def claim(self, record: Doc, until: datetime) -> bool:
        """Take a due record for one attempt (another process's claim of it wins or loses
        here): it is due again at ``until`` if this attempt never reports."""
        done = await self.collection.update_one(
            {"_id": record["_id"], "state": PENDING, "dueAt": record["dueAt"]},
            {"$set": {"dueAt": until}},
        )
        return done.modified_count == 1

    async def attempted(
        self,
        record_id: str,
        attempt: Doc,
        *,
        state: str,
        due: datetime | None = None,
        reason: str | None = None,
    ) -> None:
        """Record one attempt and what follows it: delivered, due again at ``due``, or parked."""
        now = attempt["at"]
        fields: dict[str, Any] = {"state": state, "updatedAt": now}
        if state == DELIVERED:
            fields["deliveredAt"] = now
        elif state == PARKED:
            fields["parkedAt"] = now
            fields["parkedReason"] = reason
        else:
            fields["dueAt"] = due
        await self.collection.update_one(
            {"_id": record_id},
            {"$set": fields, "$push": {"attempts": attempt}, "$inc": {"attemptCount": 1}},
        )

    async def of_notification(self, tenant: str, notification_id: str) -> list[Doc]:
        cursor = self.collection.find(
            {"tenantId": tenant, "notificationId": notification_id}, hint=BY_NOTIFICATION
        )
        return sorted([d async for d in cursor], key=lambda d: (d["sequence"], d["endpointId"]))

    async def parked(self, tenant: str, endpoint_id: str | None, limit: int) -> list[Doc]:
        """The tenant's dead letters, the most recently parked first."""
        query: Doc = {"tenantId": tenant, "state": PARKED}
        if endpoint_id:
            query["endpointId"] = endpoint_id
        cursor = (
            self.collection.find(query, hint=BY_TENANT_STATE).sort("updatedAt", -1).limit(limit)
        )
        return [d async for d in cursor]

    async def replay(self, tenant: str, ids: Sequence[str], now: datetime) -> list[str]:
        """Put the tenant's parked callbacks ``ids`` back in their endpoints' queues, with a new
        retry window from ``now``; the ids that were parked (others are left alone)."""
        replayed = []
        for record_id in ids:
            done = await self.collection.update_one(
                {"_id": record_id, "tenantId": tenant, "state": PARKED},
                {
                    "$set": {"state": PENDING, "dueAt": now, "windowFrom": now, "updatedAt": now},
                    "$unset": {"parkedAt": "", "parkedReason": ""},
                },
            )
            if done.modified_count:
                replayed.append(record_id)
        return replayed

    async def drop_endpoint(self, endpoint_id: str) -> None:
        """Forget a deleted endpoint's callbacks, delivered, pending or parked."""
        await self.collection.delete_many({"endpointId": endpoint_id})


def attempt_doc(
    at: datetime, status: int | None, error: str | None, duration_ms: int, outcome: str
) -> Doc:
    """One POST as a record keeps it (the API's ``attempts``)."""
    return {
        "at": at,
        "status": status,
        "error": error,
        "durationMs": duration_ms,
        "outcome": outcome,
    }
