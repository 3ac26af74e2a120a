"""The sweeper, run beside the relay in each API process (one owner at a time): it publishes
again the notifications that wait for a worker but whose message the broker no longer has.

The database is the source of truth. A notification QUEUED or RETRYING has a message in a
lane or delay queue; if the broker lost it (a node's disk gone, a queue deleted, a classic
queue's node replaced) nothing would ever deliver it. The sweeper finds waiting notifications
whose message should have been consumed ``SWEEP_AFTER_S`` ago:

- QUEUED: ``updatedAt`` (when it was queued, or parked) older than the threshold, and, when it
  was parked, its ``nextAttemptAt`` too;
- RETRYING: ``nextAttemptAt`` (when its delayed message comes back to its lane) older than the
  threshold;

and not claimed (a PROCESSING notification is a worker's). It publishes each one's job again,
on its lane, and adds "Re-queued: no message found" to its timeline with a conditional update
that also moves ``updatedAt`` on, so the next sweep leaves it alone for another threshold.

Why it cannot send anything twice, even a notification that is merely slow (its message still
in the queue behind a backlog, or held by a slow worker): the sweeper only publishes a second
*message*. A send happens only after a worker claims the round, a conditional update from the
round's waiting state (status, attempt, round) to PROCESSING; of two copies of one round's
message exactly one claim can win, and the other copy is dropped. The threshold only decides
how soon a lost message is noticed, and how many needless copies a slow one costs; so a lane
whose queue still holds at least as many messages as it has overdue notifications is not swept
(a backlog, not a loss), and one sweep re-queues at most ``SWEEP_LIMIT`` per status.

One owner at a time: a lease document, taken or renewed by one conditional
``find_one_and_update`` (expired, or ours), atomic on MongoDB and FerretDB v2 alike. Two
owners at once (clock skew, a paused process) would only publish duplicate messages.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from aio_pika.abc import AbstractChannel
from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom import metrics
from wavecom.broker import Publisher, queue_depths
from wavecom.constants import LEASES, Channel, Priority, Status, lane_queue
from wavecom.errors import StoreUnavailable
from wavecom.settings import Settings
from wavecom.store import Doc, Store, job_of, log_entry, utcnow
from wavecom.store.writes import bulk

log = logging.getLogger("wavecom.sweeper")

REQUEUED_MESSAGE = "Re-queued: no message found"


class Lease:
    """One holder at a time of a named job, by one document of the ``leases`` collection."""

    def __init__(self, collection: AsyncCollection[Doc], name: str, ttl_s: float) -> None:
        self.collection = collection
        self.name = name
        self.ttl = timedelta(seconds=ttl_s)
        self.owner = uuid.uuid4().hex  # this process

    async def hold(self) -> bool:
        """Take the lease if it expired (or never existed), renew it if it is ours; True if
        this process holds it now.

        A conditional ``find_one_and_update`` (no upsert: FerretDB v2 answers a conflicting
        upsert with an internal error, not a duplicate key), then, for a lease that does not
        exist yet, a unique insert that only one process wins.
        """
        now = utcnow()
        held = {"owner": self.owner, "expiresAt": now + self.ttl, "renewedAt": now}
        try:
            if await self.collection.find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expiresAt": {"$lte": now}}]},
                {"$set": held},
            ):
                return True
            try:
                await self.collection.insert_one({"_id": self.name, **held})
            except DuplicateKeyError:
                return False  # another process holds it until it expires
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not take the {self.name} lease: {exc}") from exc
        return True

    async def release(self) -> None:
        """Let another process take over at once (on shutdown)."""
        try:
            await self.collection.update_one(
                {"_id": self.name, "owner": self.owner}, {"$set": {"expiresAt": utcnow()}}
            )
        except PyMongoError as exc:
            log.warning("could not release the %s lease (it expires by itself): %s", self.name, exc)


class Sweeper:
    """Re-queues waiting notifications whose message the broker lost (see the module doc)."""

    def __init__(
        self, store: Store, publisher: Publisher, channel: AbstractChannel, settings: Settings
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.channel = channel  # for the lane depths (passive declares)
        self.after = timedelta(seconds=settings.sweep_after_s)
        self.limit = settings.sweep_limit
        # a holder that died is replaced after three missed sweeps
        self.lease = Lease(store.db[LEASES], "sweeper", 3 * settings.sweep_interval_s)

    async def tick(self) -> int:
        """One sweep, if this process holds the lease; return how many were re-queued."""
        if not await self.lease.hold():
            return 0
        cutoff = utcnow() - self.after
        by_lane: dict[str, list[Doc]] = defaultdict(list)
        for status in (Status.QUEUED, Status.RETRYING):
            for doc in await self._overdue(status, cutoff):
                by_lane[_lane_of(doc)].append(doc)
        if not by_lane:
            return 0
        depths = await queue_depths(self.channel)
        docs: list[Doc] = []
        for lane, overdue in by_lane.items():
            if depths.get(lane, 0) >= len(overdue):
                log.info(
                    "%s holds %d messages for %d overdue notifications: a backlog, not swept",
                    lane,
                    depths.get(lane, 0),
                    len(overdue),
                )
                continue
            docs += overdue
        marked = await self._mark(docs)
        await self.publisher.publish_jobs([job_of(d) for d in marked])
        for d in marked:
            metrics.SWEEPER_REQUEUED.labels(d["type"], d["status"]).inc()
        if marked:
            log.warning("re-queued %d notifications whose message was lost", len(marked))
        return len(marked)

    async def close(self) -> None:
        await self.lease.release()

    async def _overdue(self, status: Status, cutoff: datetime) -> list[Doc]:
        """Up to ``SWEEP_LIMIT`` waiting notifications of ``status`` due before ``cutoff``.

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
                self.store.notifications.collection.find(query, {"timeline": 0})
                .hint("status_updated")  # see wavecom.store.indexes
                .limit(self.limit)
            )
            return await cursor.to_list()
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not look for lost messages: {exc}") from exc

    async def _mark(self, docs: list[Doc]) -> list[Doc]:
        """Timeline entry and a new ``updatedAt`` for each doc still waiting exactly as read
        (a conditional update: one a worker claimed meanwhile is left alone); return those."""
        if not docs:
            return []
        now = utcnow()
        coll = self.store.notifications.collection
        entries: dict[ObjectId, Doc] = {}
        ops: list[UpdateOne] = []
        for d in docs:
            entry = log_entry(
                f"{d['_id']}:requeue:{d.get('retryCount', 0)}:{d.get('round', 0)}:"
                f"{int(now.timestamp() * 1000)}",
                Status(d["status"]),
                REQUEUED_MESSAGE,
                now,
                attempt=d.get("retryCount", 0),
            )
            entries[d["_id"]] = entry
            ops.append(
                UpdateOne(
                    {
                        "_id": d["_id"],
                        "status": d["status"],
                        "retryCount": d.get("retryCount", 0),
                        "round": d.get("round", 0),
                        "updatedAt": d["updatedAt"],
                    },
                    {"$set": {"updatedAt": now}, "$push": {"timeline": entry}},
                )
            )
        matched = await bulk(coll, ops)
        if matched == len(docs):
            marked = docs
        else:
            try:
                ours = {
                    m["_id"]
                    for m in await coll.find(
                        {"_id": {"$in": list(entries)}, "timeline._id": {"$in": _ids(entries)}},
                        {"_id": 1},
                    ).to_list(None)
                }
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not read re-queued notifications: {exc}") from exc
            marked = [d for d in docs if d["_id"] in ours]
        return marked


def _ids(entries: dict[ObjectId, Doc]) -> list[str]:
    return [str(e["_id"]) for e in entries.values()]


def _lane_of(doc: Doc) -> str:
    return lane_queue(Channel(doc["type"]), Priority(doc["priority"]).lane)
