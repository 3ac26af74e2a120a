"""What the relay works through: the outbox (stored, publish not yet confirmed) and the
schedule (SCHEDULED notifications until they are due)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.store.counters import Tally, kind_of
from wavecom.store.documents import Doc, log_entry, utcnow
from wavecom.store.expiries import not_expired
from wavecom.store.notifications import Notifications
from wavecom.store.writes import insert_all

log = logging.getLogger("wavecom.store.pending")


class Outbox:
    """One entry per request whose publish the broker has not confirmed yet."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def add(self, docs: Sequence[Doc], grace: timedelta) -> str | None:
        """Record one request's notifications for publishing before they are stored: if the
        API dies before the broker confirms them, the relay publishes them once ``grace`` has
        passed. One entry per request (not per notification) keeps this cheap."""
        if not docs:
            return None
        entry = {
            "_id": uuid.uuid4().hex,
            "ids": [d["_id"] for d in docs],
            "dueAt": utcnow() + grace,
        }
        try:
            await self.collection.insert_one(entry)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record notifications for publishing: {exc}") from exc
        return str(entry["_id"])

    async def forget(self, entry: str | None) -> None:
        """The request's publish was confirmed: the relay has nothing to do for it."""
        await self.forget_many([] if entry is None else [entry])

    async def forget_many(self, entries: Sequence[str]) -> None:
        """These requests' publishes were confirmed: one delete for all their entries."""
        if entries:
            try:
                await self.collection.delete_many({"_id": {"$in": list(entries)}})
            except PyMongoError as exc:
                # harmless: the relay would publish them again, and claims drop the copies
                log.warning("could not clear outbox entries %s: %s", list(entries), exc)

    async def due(self, now: datetime, limit: int) -> list[Doc]:
        """Outbox entries whose publish was never confirmed within the grace."""
        cursor = self.collection.find({"dueAt": {"$lte": now}}).sort("dueAt", 1).limit(limit)
        return await cursor.to_list()


class Schedule:
    """SCHEDULED notifications by due time: a small collection to scan."""

    def __init__(self, collection: AsyncCollection[Doc], notifications: Notifications) -> None:
        self.collection = collection
        self.notifications = notifications

    async def add(self, docs: Sequence[Doc]) -> None:
        if docs:
            await insert_all(
                self.collection,
                [
                    {"_id": d["_id"], "tenantId": d["tenantId"], "dueAt": d["scheduledAt"]}
                    for d in docs
                ],
            )

    async def due(self, now: datetime, limit: int) -> list[Doc]:
        """SCHEDULED notifications whose time has come."""
        cursor = self.collection.find({"dueAt": {"$lte": now}}).sort("dueAt", 1).limit(limit)
        return await cursor.to_list()

    async def release(self, ids: Sequence[ObjectId]) -> list[Doc]:
        """Move due SCHEDULED notifications to QUEUED; return the ones this call moved. One
        whose ``expiresAt`` passed stays SCHEDULED: the expiry sweep expires it (never queued,
        so never sent late)."""
        now = utcnow()
        released: list[Doc] = []
        if not ids:
            return released
        try:
            found = {
                d["_id"]: d
                async for d in self.notifications.collection.find(
                    {"_id": {"$in": list(ids)}, "status": Status.SCHEDULED.value},
                    {"tenantId": 1, "type": 1, "priority": 1},
                )
            }
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the schedule: {exc}") from exc
        ids = [oid for oid in ids if oid in found]  # the rest left the schedule meanwhile
        tally = Tally()
        for oid in ids:
            tally.moved(
                found[oid]["tenantId"],
                oid,
                ":0:due",
                Status.SCHEDULED.value,
                Status.QUEUED.value,
                kind=kind_of(found[oid]),
                by=True,
            )
        await self.notifications.counters.intend(tally)
        for oid in ids:
            d = await self.notifications.collection.find_one_and_update(
                {"_id": oid, "status": Status.SCHEDULED.value, **not_expired(now)},
                {
                    "$set": {"status": Status.QUEUED.value, "updatedAt": now},
                    "$push": {
                        "timeline": tally.mark(
                            log_entry(f"{oid}:0:due", Status.QUEUED, "Due: added to queue", now)
                        )
                    },
                },
                return_document=True,
            )
            if d is not None:
                released.append(d)
        await self.notifications.counters.settle(tally, {str(d["_id"]) for d in released})
        return released

    async def remove(self, ids: Iterable[ObjectId]) -> None:
        ids = list(ids)
        if ids:
            try:
                await self.collection.delete_many({"_id": {"$in": ids}})
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not update the schedule: {exc}") from exc
