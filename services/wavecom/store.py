"""The database: notifications, their audit logs and per-tenant counters.

Every write here is batched (``insert_many``/``bulk_write``): a round trip per notification per
step would not reach the throughput bar. Status transitions are conditional updates
(``{_id, status}``), so a message delivered twice changes a notification once. Only what MongoDB
and FerretDB v1 both support is used: no transactions, no change streams, no TTL/partial indexes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from wavecom.constants import (
    API_KEYS,
    CLAIMS,
    IDEMPOTENCY,
    LOGS,
    NOTIFICATIONS,
    OUTBOX,
    PROVIDERS,
    QUOTAS,
    SCHEDULE,
    STATS,
    TENANTS,
    Channel,
    Priority,
    Status,
)
from wavecom.errors import StoreUnavailable
from wavecom.messages import DeliveryJob

log = logging.getLogger("wavecom.store")

Doc = dict[str, Any]

# pymongo sends a bulk write as one command; keeping commands moderate bounds the work one
# command holds on the server
_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def log_entry(log_id: str, status: Status, message: str, at: datetime, **extra: Any) -> Doc:
    """One step of a notification's timeline; the same document goes to notificationlogs.

    Log ids are deterministic (notification id, then the claim or intake step), so writing a
    step twice, after a crash or a redelivery, leaves one log entry.
    """
    entry: Doc = {"_id": log_id, "status": status.value, "message": message, "timestamp": at}
    if extra:
        entry["metadata"] = extra
    return entry


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt ended in, as the worker will store it."""

    job: DeliveryJob
    status: Status  # SENT, RETRYING, FAILED or CANCELLED
    started_at: datetime
    finished_at: datetime
    message: str
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    retry_count: int | None = None  # the attempt number the job waits for, when it waits
    next_round: int | None = None  # set when the job waits for a provider without an attempt
    dead_reason: str | None = None  # set when FAILED: permanent, retries_exhausted

    @property
    def processing_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


@dataclass(slots=True)
class Page:
    items: list[Doc]
    total: int


@dataclass(slots=True)
class TenantStats:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    by_priority: dict[str, int] = field(default_factory=dict)
    processing_ms_sum: int = 0
    processing_count: int = 0


class Store:
    """Typed access to the collections; one instance per process, created at start-up."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[database]
        self.notifications: AsyncCollection[Doc] = self.db[NOTIFICATIONS]
        self.logs: AsyncCollection[Doc] = self.db[LOGS]
        self.stats: AsyncCollection[Doc] = self.db[STATS]
        self.schedule: AsyncCollection[Doc] = self.db[SCHEDULE]
        self.outbox: AsyncCollection[Doc] = self.db[OUTBOX]
        self.providers: AsyncCollection[Doc] = self.db[PROVIDERS]
        self.claims: AsyncCollection[Doc] = self.db[CLAIMS]
        self.idempotency: AsyncCollection[Doc] = self.db[IDEMPOTENCY]
        self.api_keys: AsyncCollection[Doc] = self.db[API_KEYS]
        self.tenants: AsyncCollection[Doc] = self.db[TENANTS]
        self.quotas: AsyncCollection[Doc] = self.db[QUOTAS]
        self._shard = uuid.uuid4().hex[:12]  # this process's counter documents
        self._stats_lock = asyncio.Lock()

    @classmethod
    def connect(cls, url: str, database: str, *, timeout_ms: int = 5000) -> Store:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30_000),
            maxPoolSize=50,
            appname="wavecom",
        )
        return cls(client, database)

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> None:
        try:
            await self.db.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"database unreachable: {exc}") from exc

    async def ensure_indexes(self) -> None:
        """Seed 003's indexes, tenant-first; idempotent.

        On FerretDB v1 only the ``_id`` index is ever used to answer a query (its SQLite
        backend pushes nothing else down), while every secondary index is maintained on every
        write: measured here, five of them made an insert 75 % and an update 30 % dearer.
        So the secondary indexes are created only on MongoDB, where they serve the queries.
        """
        if await self.is_ferretdb():
            return
        n = self.notifications
        await n.create_index([("tenantId", ASCENDING), ("createdAt", DESCENDING)])
        await n.create_index(
            [
                ("tenantId", ASCENDING),
                ("type", ASCENDING),
                ("status", ASCENDING),
                ("createdAt", DESCENDING),
            ]
        )
        await n.create_index(
            [
                ("tenantId", ASCENDING),
                ("status", ASCENDING),
                ("priority", DESCENDING),
                ("createdAt", DESCENDING),
            ]
        )
        await n.create_index([("recipient", ASCENDING), ("createdAt", DESCENDING)])
        await n.create_index([("createdAt", DESCENDING)])
        await self.logs.create_index([("notificationId", ASCENDING), ("timestamp", ASCENDING)])
        await self.schedule.create_index([("dueAt", ASCENDING)])
        await self.outbox.create_index([("dueAt", ASCENDING)])
        await self.stats.create_index([("tenantId", ASCENDING)])

    async def is_ferretdb(self) -> bool:
        """True when the server is FerretDB (it says so in buildInfo)."""
        info = await self.db.command("buildInfo")
        return "ferretdbVersion" in info

    # --- intake ---------------------------------------------------------------------------------

    async def insert_notifications(self, docs: Sequence[Doc]) -> None:
        """Write accepted notifications in one round trip per chunk (500)."""
        try:
            for i in range(0, len(docs), _CHUNK):
                await self.notifications.insert_many(docs[i : i + _CHUNK], ordered=False)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not store notifications: {exc}") from exc

    async def delete_notifications(self, ids: Sequence[ObjectId]) -> None:
        """Compensate an intake whose publish failed: nothing half-written stays behind."""
        if ids:
            await self.notifications.delete_many({"_id": {"$in": list(ids)}})

    async def record_intake(self, docs: Sequence[Doc]) -> None:
        """Audit logs and counters of notifications that are stored and queued or scheduled."""
        logs: list[Doc] = []
        inc: dict[str, Counter[str]] = {}
        for d in docs:
            tenant = inc.setdefault(d["tenantId"], Counter())
            tenant["total"] += 1
            tenant[f"byType.{d['type']}"] += 1
            tenant[f"byPriority.{d['priority']}"] += 1
            tenant[f"byStatus.{d['status']}"] += 1
            logs.extend({"notificationId": d["_id"], **entry} for entry in d["timeline"])
        await self._insert_logs(logs)
        await self._inc_stats(inc)

    # --- delivery -------------------------------------------------------------------------------

    async def claim(self, jobs: Sequence[DeliveryJob], token: str) -> set[str]:
        """Claim each job's delivery round; return the ids this call won.

        A claim is an insert into ``claims`` keyed by the job's round (notification id, attempt,
        parks): exactly one worker wins it, even when two hold copies of one message at the
        same moment, because a unique ``_id`` insert is atomic on MongoDB and on FerretDB
        (whose conditional updates are read-modify-write). A stale or duplicate message names a
        round that was claimed already and loses. The PROCESSING step is logged at once; the
        notification document itself changes once per round, when the outcome is stored.
        """
        if not jobs:
            return set()
        if len({j.id for j in jobs}) != len(jobs):
            raise ValueError("claim() takes each notification once")
        now = utcnow()
        lost = await self._insert_claims(
            [{"_id": j.claim_key, "token": token, "at": now, "attempt": j.attempt} for j in jobs]
        )
        won = [j for j in jobs if j.claim_key not in lost]
        logs: list[Doc] = []
        moved: dict[str, Counter[str]] = {}
        for j in won:
            logs.append({"notificationId": ObjectId(j.id), **processing_step(j, token, now)})
            c = moved.setdefault(j.tenant_id, Counter())
            c[f"byStatus.{_expected_status(j).value}"] -= 1
            c[f"byStatus.{Status.PROCESSING.value}"] += 1
        await self._insert_logs(logs)
        await self._inc_stats(moved)
        return {j.id for j in won}

    async def examine_lost(
        self, jobs: Sequence[DeliveryJob], claim_ttl_s: float
    ) -> tuple[list[DeliveryJob], list[DeliveryJob]]:
        """Jobs whose round another claim holds: which to retake now, which to look at later.

        Nothing to do for a job whose notification moved on (delivered, failed, cancelled, or
        past this round): its message is a duplicate. A round claimed longer ago than
        ``claim_ttl_s`` whose notification still waits was claimed by a worker that died
        before storing an outcome: it is retaken under the next round (returned first). A
        younger claim may belong to a worker still delivering it: look again later (second).
        """
        retake: list[DeliveryJob] = []
        later: list[DeliveryJob] = []
        now = utcnow()
        for j in jobs:
            doc = await self.notifications.find_one({"_id": ObjectId(j.id)})
            if (
                doc is None
                or doc["status"] != _expected_status(j).value
                or doc.get("retryCount", 0) != j.attempt
                or doc.get("round", 0) != j.round
            ):
                continue
            claim = await self.claims.find_one({"_id": j.claim_key})
            if claim is None or claim.get("token") == "cancel":
                continue
            if (now - claim["at"]).total_seconds() < claim_ttl_s:
                later.append(j)
                continue
            result = await self.notifications.update_one(
                {"_id": ObjectId(j.id), "status": doc["status"], "round": j.round},
                {"$set": {"round": j.round + 1, "updatedAt": now}},
            )
            if result.matched_count:
                retake.append(j.parked())
                log.warning(
                    "retaking %s: its claim of round %d is %.0fs old",
                    j.id,
                    j.round,
                    (now - claim["at"]).total_seconds(),
                )
        return retake, later

    async def _insert_claims(self, claims: list[Doc]) -> set[str]:
        """Insert claim documents; return the keys another worker already holds."""
        try:
            await self.claims.insert_many(claims, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise StoreUnavailable(f"could not claim jobs: {errors[:3]}") from exc
            return {claims[e["index"]]["_id"] for e in errors}
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not claim jobs: {exc}") from exc
        return set()

    async def record_outcomes(self, outcomes: Sequence[Outcome], token: str) -> None:
        """Store what each attempt ended in, its timeline steps, audit logs and counters."""
        if not outcomes:
            return
        ops: list[UpdateOne] = []
        logs: list[Doc] = []
        inc: dict[str, Counter[str]] = {}
        for o in outcomes:
            oid = ObjectId(o.job.id)
            extra: Doc = {"attempt": o.job.attempt}
            if o.provider:
                extra["provider"] = o.provider
            if o.error:
                extra["error"] = o.error
            step = log_entry(f"{o.job.id}:{token}:o", o.status, o.message, o.finished_at, **extra)
            claimed = processing_step(o.job, token, o.started_at)
            fields: Doc = {
                "status": o.status.value,
                "updatedAt": o.finished_at,
                "processingTimeMs": o.processing_ms,
            }
            if o.provider:
                fields["provider"] = o.provider
            if o.error:
                fields["error"] = o.error
            if o.status is Status.SENT:
                fields["sentAt"] = o.finished_at
                fields["providerMessageId"] = o.provider_message_id
            elif o.status is Status.FAILED:
                fields["failedAt"] = o.finished_at
                fields["deadLetter"] = {
                    "reason": o.dead_reason or "failed",
                    "attempts": o.job.attempt + 1,
                    "lastError": o.error,
                    "at": o.finished_at,
                }
            if o.retry_count is not None:
                fields["retryCount"] = o.retry_count
                fields["nextAttemptAt"] = o.retry_at
            if o.next_round is not None:
                fields["round"] = o.next_round
            ops.append(
                UpdateOne(
                    {
                        "_id": oid,
                        "status": _expected_status(o.job).value,
                        "retryCount": o.job.attempt,
                    },
                    {"$set": fields, "$push": {"timeline": {"$each": [claimed, step]}}},
                )
            )
            logs.append({"notificationId": oid, **step})
            c = inc.setdefault(o.job.tenant_id, Counter())
            c[f"byStatus.{Status.PROCESSING.value}"] -= 1
            c[f"byStatus.{o.status.value}"] += 1
            if o.status is Status.SENT:
                c["processingMsSum"] += o.processing_ms
                c["processingCount"] += 1
        matched = await self._bulk(self.notifications, ops)
        if matched != len(ops):
            log.error(
                "%d of %d outcomes found their notification moved on", len(ops) - matched, len(ops)
            )
        await self._insert_logs(logs)
        await self._inc_stats(inc)

    # --- operator actions -----------------------------------------------------------------------

    async def cancel(self, tenant_id: str, oid: ObjectId) -> tuple[Doc | None, str | None]:
        """Cancel a notification that waits (SCHEDULED, QUEUED, RETRYING).

        Returns (document, None) once cancelled, (None, None) if there is no such notification
        of this tenant, or (document, reason) when it cannot be cancelled. The cancel takes the
        claim of the notification's next round, so a worker that already holds its message
        loses that claim and does not send it; a worker that claimed first wins, and the
        cancel is refused.
        """
        for _ in range(3):
            doc = await self.notifications.find_one({"_id": oid, "tenantId": tenant_id})
            if doc is None:
                return None, None
            if doc["status"] not in _CANCELLABLE:
                return doc, f"a {doc['status']} notification cannot be cancelled"
            job = job_of(doc)
            now = utcnow()
            lost = await self._insert_claims(
                [{"_id": job.claim_key, "token": "cancel", "at": now, "attempt": job.attempt}]
            )
            if lost:
                claim = await self.claims.find_one({"_id": job.claim_key})
                if claim is None or claim.get("token") != "cancel":
                    return doc, "a worker is delivering it already"
            step = log_entry(f"{oid}:cancel", Status.CANCELLED, "Cancelled by the client", now)
            result = await self.notifications.update_one(
                {"_id": oid, "status": doc["status"]},
                {
                    "$set": {
                        "status": Status.CANCELLED.value,
                        "cancelledAt": now,
                        "updatedAt": now,
                    },
                    "$push": {"timeline": step},
                },
            )
            if result.matched_count == 0:
                continue  # it moved on meanwhile (a schedule fell due): look again
            await self._insert_logs([{"notificationId": oid, **step}])
            await self._inc_stats(
                {tenant_id: Counter({f"byStatus.{doc['status']}": -1, "byStatus.CANCELLED": 1})}
            )
            await self.schedule.delete_one({"_id": oid})
            doc.update(status=Status.CANCELLED.value, cancelledAt=now, updatedAt=now)
            doc["timeline"].append(step)
            return doc, None
        return doc, "it changed state while being cancelled; try again"

    async def replay(self, doc: Doc) -> DeliveryJob | None:
        """Give a FAILED notification a fresh set of attempts; return its job to publish.

        None if it is not FAILED (anymore). The job names a new round, so even two replays
        racing each other produce one delivery: only one claim of that round can win.
        """
        if doc["status"] != Status.FAILED.value:
            return None
        job = job_of(doc).replayed()
        now = utcnow()
        step = log_entry(
            f"{doc['_id']}:replay:{job.round}",
            Status.QUEUED,
            "Replayed from the dead-letter queue",
            now,
        )
        result = await self.notifications.update_one(
            {"_id": doc["_id"], "status": Status.FAILED.value, "round": doc.get("round", 0)},
            {
                "$set": {
                    "status": Status.QUEUED.value,
                    "retryCount": 0,
                    "round": job.round,
                    "updatedAt": now,
                    "replayedAt": now,
                },
                "$unset": {"deadLetter": "", "failedAt": "", "error": ""},
                "$push": {"timeline": step},
            },
        )
        if result.matched_count == 0:
            return None
        await self._insert_logs([{"notificationId": doc["_id"], **step}])
        await self._inc_stats(
            {doc["tenantId"]: Counter({"byStatus.FAILED": -1, "byStatus.QUEUED": 1})}
        )
        return job

    async def unreplay(self, job: DeliveryJob, error: str) -> None:
        """Put a replayed notification back to FAILED when its publish was not confirmed."""
        now = utcnow()
        await self.notifications.update_one(
            {"_id": ObjectId(job.id), "status": Status.QUEUED.value, "round": job.round},
            {
                "$set": {
                    "status": Status.FAILED.value,
                    "failedAt": now,
                    "updatedAt": now,
                    "error": error,
                    "deadLetter": {
                        "reason": "replay_failed",
                        "attempts": 0,
                        "lastError": error,
                        "at": now,
                    },
                }
            },
        )
        await self._inc_stats(
            {job.tenant_id: Counter({"byStatus.FAILED": 1, "byStatus.QUEUED": -1})}
        )

    async def dead_letters(self, tenant_id: str, filters: dict[str, str], limit: int) -> list[Doc]:
        """FAILED notifications of a tenant matching ``filters``, oldest first, up to ``limit``."""
        query: Doc = {"tenantId": tenant_id, "status": Status.FAILED.value, **filters}
        return await self.notifications.find(query).limit(limit).to_list()

    # --- scheduling -----------------------------------------------------------------------------

    async def add_schedule(self, docs: Sequence[Doc]) -> None:
        """Remember SCHEDULED notifications until they are due (a small collection to scan)."""
        await self._add_pending(
            self.schedule, [(d["_id"], d["tenantId"], d["scheduledAt"]) for d in docs]
        )

    async def add_outbox(self, docs: Sequence[Doc], grace: timedelta) -> str | None:
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
            await self.outbox.insert_one(entry)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record notifications for publishing: {exc}") from exc
        return str(entry["_id"])

    async def forget_outbox(self, entry: str | None) -> None:
        """The request's publish was confirmed: the relay has nothing to do for it."""
        if entry is not None:
            try:
                await self.outbox.delete_one({"_id": entry})
            except PyMongoError as exc:
                # harmless: the relay would publish them again, and claims drop the copies
                log.warning("could not clear outbox entry %s: %s", entry, exc)

    async def due_outbox(self, now: datetime, limit: int) -> list[Doc]:
        """Outbox entries whose publish was never confirmed within the grace."""
        return await self.outbox.find({"dueAt": {"$lte": now}}).limit(limit).to_list()

    async def _add_pending(
        self, coll: AsyncCollection[Doc], entries: Sequence[tuple[ObjectId, str, datetime]]
    ) -> None:
        if not entries:
            return
        try:
            await coll.insert_many(
                [{"_id": oid, "tenantId": tenant, "dueAt": due} for oid, tenant, due in entries],
                ordered=False,
            )
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record notifications for publishing: {exc}") from exc

    async def due_schedule(self, now: datetime, limit: int) -> list[Doc]:
        """SCHEDULED notifications whose time has come."""
        return await self.schedule.find({"dueAt": {"$lte": now}}).limit(limit).to_list()

    async def release_due(self, ids: Sequence[ObjectId]) -> list[Doc]:
        """Move due SCHEDULED notifications to QUEUED; return the ones this call moved."""
        now = utcnow()
        moved: list[Doc] = []
        for oid in ids:
            d = await self.notifications.find_one_and_update(
                {"_id": oid, "status": Status.SCHEDULED.value},
                {
                    "$set": {"status": Status.QUEUED.value, "updatedAt": now},
                    "$push": {
                        "timeline": log_entry(
                            f"{oid}:0:due", Status.QUEUED, "Due: added to queue", now
                        )
                    },
                },
                return_document=True,
            )
            if d is not None:
                moved.append(d)
        inc: dict[str, Counter[str]] = {}
        logs: list[Doc] = []
        for d in moved:
            c = inc.setdefault(d["tenantId"], Counter())
            c[f"byStatus.{Status.SCHEDULED.value}"] -= 1
            c[f"byStatus.{Status.QUEUED.value}"] += 1
            logs.append({"notificationId": d["_id"], **d["timeline"][-1]})
        await self._insert_logs(logs)
        await self._inc_stats(inc)
        return moved

    async def remove_schedule(self, ids: Iterable[ObjectId]) -> None:
        for oid in ids:
            await self.schedule.delete_one({"_id": oid})

    # --- provider health ------------------------------------------------------------------------

    async def report_breakers(self, instance: str, channel: str, states: dict[str, str]) -> None:
        """One worker's view of its providers' circuit breakers."""
        now = utcnow()
        for provider, state in states.items():
            await self.providers.update_one(
                {"_id": f"{provider}/{instance}"},
                {
                    "$set": {
                        "provider": provider,
                        "channel": channel,
                        "state": state,
                        "updatedAt": now,
                    }
                },
                upsert=True,
            )

    async def breaker_states(self, fresh_s: float = 15.0) -> dict[str, dict[str, Any]]:
        """Per provider: its channel and the worst breaker state any live worker reports."""
        now = utcnow()
        worst = {"closed": 0, "half-open": 1, "open": 2}
        out: dict[str, dict[str, Any]] = {}
        async for d in self.providers.find({}):
            if (now - d["updatedAt"]).total_seconds() > fresh_s:
                continue
            seen = out.setdefault(
                d["provider"], {"channel": d["channel"], "state": "closed", "workers": 0}
            )
            seen["workers"] += 1
            if worst.get(d["state"], 0) > worst.get(seen["state"], 0):
                seen["state"] = d["state"]
        return out

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, tenant_id: str, oid: ObjectId) -> Doc | None:
        """A notification as it is now: one a worker has claimed and not finished is shown
        PROCESSING, with that step on its timeline (the document changes once per round)."""
        doc = await self.notifications.find_one({"_id": oid, "tenantId": tenant_id})
        if doc is None or doc["status"] not in (Status.QUEUED.value, Status.RETRYING.value):
            return doc
        job = job_of(doc)
        claim = await self.claims.find_one({"_id": job.claim_key})
        if claim is not None:
            doc["status"] = Status.PROCESSING.value
            doc["timeline"].append(processing_step(job, claim["token"], claim["at"]))
        return doc

    async def get_many(self, ids: Sequence[ObjectId]) -> list[Doc]:
        """Documents by id, one lookup each (FerretDB answers ``$in`` with a table scan)."""
        found = await asyncio.gather(*(self.notifications.find_one({"_id": i}) for i in ids))
        return [d for d in found if d is not None]

    async def page(self, tenant_id: str, filters: dict[str, str], page: int, limit: int) -> Page:
        """Newest first; served by the (tenantId, …, createdAt) indexes on MongoDB."""
        query: Doc = {"tenantId": tenant_id, **filters}
        total = await self.notifications.count_documents(query)
        cursor = (
            self.notifications.find(query, {"timeline": 0})
            .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
            .skip((page - 1) * limit)
            .limit(limit)
        )
        return Page(items=await cursor.to_list(), total=total)

    async def tenant_stats(self, tenant_id: str) -> TenantStats:
        """The tenant's counters: the sum of every process's counter document."""
        total: Counter[str] = Counter()
        async for d in self.stats.find({"tenantId": tenant_id}):
            for key, value in d.items():
                if isinstance(value, dict):
                    total.update({f"{key}.{k}": int(v) for k, v in value.items()})
                elif isinstance(value, int):
                    total[key] += value

        def group(prefix: str) -> dict[str, int]:
            return {k.split(".", 1)[1]: v for k, v in total.items() if k.startswith(prefix + ".")}

        return TenantStats(
            total=total["total"],
            by_status=group("byStatus"),
            by_type=group("byType"),
            by_priority=group("byPriority"),
            processing_ms_sum=total["processingMsSum"],
            processing_count=total["processingCount"],
        )

    # --- helpers --------------------------------------------------------------------------------

    async def _bulk(
        self, coll: AsyncCollection[Doc], ops: Sequence[UpdateOne | InsertOne[Doc]]
    ) -> int:
        matched = 0
        try:
            for i in range(0, len(ops), _CHUNK):
                result = await coll.bulk_write(list(ops[i : i + _CHUNK]), ordered=False)
                matched += result.matched_count
        except PyMongoError as exc:
            raise StoreUnavailable(f"bulk write failed: {exc}") from exc
        return matched

    async def _insert_logs(self, logs: list[Doc]) -> None:
        """Append audit logs; ids are deterministic, so a replayed step is not logged twice."""
        try:
            for i in range(0, len(logs), _CHUNK):
                try:
                    await self.logs.insert_many(logs[i : i + _CHUNK], ordered=False)
                except BulkWriteError as exc:
                    if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                        raise
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not write logs: {exc}") from exc

    async def _inc_stats(self, inc: dict[str, Counter[str]]) -> None:
        """Add to this process's own counter document of each tenant.

        Each process writes only its own documents, one write at a time: FerretDB applies
        ``$inc`` as read-modify-write, so two writers on one document would lose updates.
        Readers add up every process's document (see ``tenant_stats``). Counters are
        statistics, not the record: a failure to update them is logged, never raised, so it
        cannot fail a request or a batch whose notifications are already stored and queued.
        """
        async with self._stats_lock:
            for tenant, c in inc.items():
                changes = {k: v for k, v in c.items() if v}
                if not changes:
                    continue
                try:
                    await self.stats.update_one(
                        {"_id": f"{tenant}/{self._shard}"},
                        {"$inc": changes, "$set": {"tenantId": tenant}},
                        upsert=True,
                    )
                except Exception:  # any driver or server error; see the docstring
                    log.exception("counters of tenant %s not updated: %s", tenant, changes)


_CANCELLABLE = (Status.SCHEDULED.value, Status.QUEUED.value, Status.RETRYING.value)


def processing_step(job: DeliveryJob, token: str, at: datetime) -> Doc:
    """The PROCESSING step of a claimed round (the same entry in the logs and the timeline)."""
    return log_entry(
        f"{job.id}:{token}:p",
        Status.PROCESSING,
        "Worker started processing",
        at,
        attempt=job.attempt,
    )


def _expected_status(job: DeliveryJob) -> Status:
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
) -> Doc:
    """A notification document as intake stores it (seed 003's fields plus tenantId, timeline)."""
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
    )
