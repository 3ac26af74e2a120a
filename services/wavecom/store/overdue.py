"""Waiting notifications whose message should have been consumed by now: the sweeper's scan
and its mark (:mod:`wavecom.relay.sweeper` says why and what it publishes)."""

from __future__ import annotations

import uuid
from datetime import datetime

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc, as_read, log_entry, utcnow
from wavecom.store.writes import bulk


class Overdue:
    """Scans and marks the ``notifications`` collection for the sweeper."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def scan(self, status: Status, cutoff: datetime, limit: int) -> list[Doc]:
        """Up to ``limit`` waiting notifications of ``status`` due before ``cutoff``.

        Equality on ``status`` through the (status, updatedAt) index, with the times checked
        on the rows it yields (``$expr`` is never an index term): DocumentDB's index terms
        are per field, so a range on ``updatedAt`` inside the index would read every
        ``updatedAt`` term of the collection, whatever the status (as reconcile's stuck scan
        explains). ``updatedAt`` is never later than ``nextAttemptAt`` (both are set by the
        outcome that made it wait), so the first test holds every candidate and
        ``nextAttemptAt`` only filters it. No order: a sweep takes any ``limit`` of them, the
        next sweep the rest (the ones marked have a new ``updatedAt``).
        """
        query: Doc = {
            "status": status.value,
            "$expr": {"$lt": ["$updatedAt", cutoff]},
            "$or": [{"nextAttemptAt": None}, {"nextAttemptAt": {"$lt": cutoff}}],
        }
        try:
            cursor = (
                self.collection.find(query, {"timeline": 0})
                .hint("status_updated")  # see wavecom.store.indexes
                .limit(limit)
            )
            return await cursor.to_list()
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not look for lost messages: {exc}") from exc

    async def mark(self, docs: list[Doc], message: str) -> list[Doc]:
        """Timeline entry ``message`` and a new ``updatedAt`` for each doc still waiting
        exactly as read (a conditional update: one a worker claimed meanwhile is left alone);
        return those."""
        if not docs:
            return []
        now = utcnow()
        # this call's own: another sweep marking in the same millisecond writes other ids, so
        # the read-back below finds only what this one marked
        token = uuid.uuid4().hex[:8]
        entries: dict[ObjectId, Doc] = {}
        ops: list[UpdateOne] = []
        for d in docs:
            entry = log_entry(
                f"{d['_id']}:requeue:{d.get('retryCount', 0)}:{d.get('round', 0)}:"
                f"{int(now.timestamp() * 1000)}:{token}",
                Status(d["status"]),
                message,
                now,
                attempt=d.get("retryCount", 0),
            )
            entries[d["_id"]] = entry
            ops.append(
                UpdateOne(
                    {**as_read(d), "updatedAt": d["updatedAt"]},
                    {"$set": {"updatedAt": now}, "$push": {"timeline": entry}},
                )
            )
        matched = await bulk(self.collection, ops)
        if matched == len(docs):
            return docs
        try:
            ours = {
                m["_id"]
                for m in await self.collection.find(
                    {"_id": {"$in": list(entries)}, "timeline._id": {"$in": _ids(entries)}},
                    {"_id": 1},
                ).to_list(None)
            }
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read re-queued notifications: {exc}") from exc
        return [d for d in docs if d["_id"] in ours]


def _ids(entries: dict[ObjectId, Doc]) -> list[str]:
    return [str(e["_id"]) for e in entries.values()]
