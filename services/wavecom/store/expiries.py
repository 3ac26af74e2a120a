"""Expiry on the notification documents: a notification not handed to a provider before its
``expiresAt`` becomes EXPIRED, wherever it waits, and is never sent late.

Every expiry is one conditional update of the document, from exactly the state it was found
in (status, attempt, round) to EXPIRED, pushing its timeline step in the same update; so a
claim, a cancel, a scheduled release or a second expirer racing it cannot both win. Three
places decide (``docs/expiry.md``): a worker's claim (:meth:`wavecom.store.rounds.Rounds.claim`
expires instead of claiming), the pipeline right before a send (an outcome like any other),
and the periodic sweep (:class:`Expiries`, run by ``wavecom.api.expiry``) for the ones that wait.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.core.messages import DeliveryJob
from wavecom.store.counters import Counters, Tally, kind_of
from wavecom.store.documents import Doc, as_read, log_entry
from wavecom.store.writes import bulk

log = logging.getLogger("wavecom.store.expiries")

# the longest validity a notification may have: 7 days from when it is due (ttlSeconds, a
# tenant's default, or expiresAt); long enough for any "valid until" message, short enough
# that a forgotten default cannot keep a backlog alive for weeks
MAX_TTL_S = 604_800
# index of the sweep: waiting notifications by status and expiry (wavecom.store.indexes)
BY_EXPIRY = "status_expires"
# the states an expiry can find a notification waiting in (PROCESSING is a worker's: it
# checks before sending, and a lost worker's round is retaken and then expires at its claim)
WAITING = (Status.SCHEDULED, Status.QUEUED, Status.RETRYING)


class Where(StrEnum):
    """Where a notification was when it expired: the ``reason`` label of
    ``notifications_expired_total`` and the timeline entry's ``metadata.where``."""

    SCHEDULED = "scheduled"  # not due yet
    QUEUED = "queued"  # waiting for its first delivery
    RETRY = "retry"  # waiting for its next attempt after a failed one
    BREAKER = "breaker"  # parked: every provider's circuit breaker open
    NO_ACCOUNT = "no_account"  # parked: no usable provider account for its tenant
    RATE_CAP = "rate_cap"  # held by a provider account's send-rate cap
    LOST_WORKER = "lost_worker"  # its round was retaken from a worker that died holding it
    FAILOVER = "failover"  # a worker was trying its providers one after another

    @property
    def message(self) -> str:
        return "Expired before it was handed to a provider, " + _PLACES[self]


_PLACES = {
    Where.SCHEDULED: "while scheduled",
    Where.QUEUED: "while queued",
    Where.RETRY: "while waiting for a retry",
    Where.BREAKER: "while held by open circuit breakers (every provider unavailable)",
    Where.NO_ACCOUNT: "while no usable provider account could take it",
    Where.RATE_CAP: "while waiting for a provider account's send-rate cap",
    Where.LOST_WORKER: "after the worker holding it was lost",
    Where.FAILOVER: "while failing over between providers",
}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expires_of(job: DeliveryJob) -> datetime | None:
    """The job's expiry as a time (None: it never expires)."""
    if not job.expires_ms:
        return None
    return datetime.fromtimestamp(job.expires_ms / 1000, tz=UTC)


def expiry_step(
    nid: str, token: str, where: Where, at: datetime, expires_at: datetime | None
) -> Doc:
    """The EXPIRED step of a timeline, named by the notification and the token of the claim
    or sweep that expired it (so each racer can read back whether its own update won)."""
    extra: Doc = {"where": where.value}
    if expires_at is not None:
        extra["expiresAt"] = iso(expires_at)
    return log_entry(f"{nid}:{token}:x", Status.EXPIRED, where.message, at, **extra)


def expired_fields(where: Where, at: datetime) -> Doc:
    """What an expiry sets besides the status (its ``$set``)."""
    return {
        "status": Status.EXPIRED.value,
        "expiredAt": at,
        "expiredWhere": where.value,
        "updatedAt": at,
    }


def where_job(job: DeliveryJob) -> Where:
    """Where a job's round was while it waited for a worker."""
    if job.retaken:
        return Where.LOST_WORKER
    if job.held:
        return _held(job.held)
    return Where.RETRY if job.attempt else Where.QUEUED


def _held(held: str) -> Where:
    try:
        return Where(held)
    except ValueError:  # a value a later version may add: it waited without an attempt
        return Where.BREAKER


def where_doc(doc: Doc) -> Where:
    """Where a waiting document is (its status, and why it was parked when it was)."""
    status = doc["status"]
    if status == Status.SCHEDULED.value:
        return Where.SCHEDULED
    held = doc.get("heldBy")
    if held:
        return _held(str(held))
    return Where.RETRY if status == Status.RETRYING.value else Where.QUEUED


def expired(doc: Doc, now: datetime) -> bool:
    """Whether the document's ``expiresAt`` passed at ``now``."""
    expires_at: datetime | None = doc.get("expiresAt")
    return expires_at is not None and expires_at <= now


def not_expired(now: datetime) -> Doc:
    """A filter term: no expiry, or one still ahead of ``now``."""
    return {"$or": [{"expiresAt": None}, {"expiresAt": {"$gt": now}}]}


class Expiries:
    """Expires the waiting notifications whose validity ended (the periodic sweep's part)."""

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        counters: Counters,
        schedule: AsyncCollection[Doc],
    ) -> None:
        self.collection = collection
        self.counters = counters
        self.schedule = schedule

    async def overdue(self, now: datetime, limit: int) -> list[Doc]:
        """Up to ``limit`` waiting notifications per state whose ``expiresAt`` passed (no
        timelines): equality on the status and a range on ``expiresAt``, both in one index."""
        found: list[Doc] = []
        try:
            for status in WAITING:
                cursor = (
                    self.collection.find(
                        # $type names the partial index's condition: the query is its subset
                        {"status": status.value, "expiresAt": {"$type": "date", "$lte": now}},
                        {"timeline": 0},
                    )
                    .hint(BY_EXPIRY)
                    .limit(limit)
                )
                found += await cursor.to_list()
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not look for expired notifications: {exc}") from exc
        return found

    async def expire(self, docs: Sequence[Doc], now: datetime) -> list[tuple[Doc, Where]]:
        """Expire each doc still in the state it was read in; return those this call expired
        (with where each was), as they are now. Counted in the tenants' counters."""
        if not docs:
            return []
        token = uuid.uuid4().hex
        ops: list[UpdateOne] = []
        steps: dict[str, Doc] = {}
        places: dict[str, Where] = {}
        tally = Tally()
        for d in docs:
            where = where_doc(d)
            step = expiry_step(str(d["_id"]), token, where, now, d.get("expiresAt"))
            steps[str(d["_id"])], places[str(d["_id"])] = step, where
            tally.moved(
                d["tenantId"],
                d["_id"],
                f":{token}:x",
                d["status"],
                Status.EXPIRED.value,
                kind=kind_of(d),
            )
            ops.append(
                UpdateOne(
                    {**as_read(d), "expiresAt": {"$lte": now}},
                    {
                        "$set": expired_fields(where, now),
                        "$unset": {"nextAttemptAt": "", "heldBy": ""},
                        "$push": {"timeline": step},
                    },
                )
            )
        await self.counters.intend(tally)
        matched = await bulk(self.collection, ops)
        if matched == len(docs):
            ours = list(docs)
        else:  # some moved on meanwhile (claimed, cancelled, expired by another process)
            try:
                won = {
                    str(m["_id"])
                    for m in await self.collection.find(
                        {
                            "_id": {"$in": [d["_id"] for d in docs]},
                            "timeline._id": {"$in": [s["_id"] for s in steps.values()]},
                        },
                        {"_id": 1},
                    ).to_list(None)
                }
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not read expired notifications: {exc}") from exc
            ours = [d for d in docs if str(d["_id"]) in won]
        await self.counters.settle(tally, {str(d["_id"]) for d in ours})
        scheduled = []
        expired: list[tuple[Doc, Where]] = []
        for d in ours:
            if d["status"] == Status.SCHEDULED.value:
                scheduled.append(d["_id"])
            where = places[str(d["_id"])]
            expired.append(({**d, **expired_fields(where, now)}, where))
        if scheduled:
            try:
                await self.schedule.delete_many({"_id": {"$in": scheduled}})
            except PyMongoError as exc:  # harmless: the relay releases only SCHEDULED ones
                log.warning("could not clear %d expired schedule entries: %s", len(scheduled), exc)
        return expired
