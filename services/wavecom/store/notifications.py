"""Notification documents (each the whole record: its state and its timeline), the reads the
API serves, and the operator's transitions (cancel, replay)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from wavecom.core import metrics
from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.core.messages import DeliveryJob
from wavecom.store.counters import TALLY_AFTER_S, TALLY_KEEP_S, Counters, Tally, kind_of
from wavecom.store.documents import CANCELLABLE, Doc, job_of, log_entry, reference_key, utcnow
from wavecom.store.expiries import expired, not_expired
from wavecom.store.indexes import (
    BY_FIELD,
    BY_PROVIDER_MESSAGE,
    BY_RECIPIENT,
    BY_REFERENCE,
    partial_string,
)
from wavecom.store.writes import CHUNK, DUPLICATE_KEY

# the order of every list: newest first, the id breaking ties between equal timestamps
NEWEST_FIRST = [("createdAt", DESCENDING), ("_id", DESCENDING)]

# page(): matches up to this many are sorted at once; above it, the page is looked for in a
# window of recent createdAt: the first is a second long, and each next one is sized from what
# the last one held (twice the span its rate says the page needs), 2 to 16 times longer,
# until it is over a year long, then everything
_SORT_ALL = 5_000
_FIRST_WINDOW = timedelta(seconds=1)
_GROWTH = (2, 16)
_LAST_WINDOW = timedelta(days=400)
# _total(): the documents are counted when the index rows it reads are at most this many;
# above it the tenant's counters say, and where they cannot (a createdAt range) the count
# stops there: "more than 10,000" (Page.exact)
_COUNT_UP_TO = 10_000
_COUNTER_OF = {"status": "by_status", "type": "by_type", "priority": "by_priority"}


@dataclass(slots=True)
class Page:
    items: list[Doc]
    total: int
    # the cursor of the last item when a next page may follow (``?after=`` takes it)
    next_after: tuple[datetime, ObjectId] | None = None
    # False: more than ``total`` match (a createdAt range over more than _COUNT_UP_TO)
    exact: bool = True


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list asks for besides the tenant: filters, one lookup, a range, a cursor."""

    filters: dict[str, str] = field(default_factory=dict)  # status, type, priority
    recipient_hash: str | None = None
    reference: str | None = None
    provider_message_id: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    after: tuple[datetime, ObjectId] | None = None  # only items older than this one

    def lookup(self, tenant_id: str) -> tuple[Doc, str] | None:
        """The lookups' conditions and the index of the most selective one, when the query
        has any (they match few: every match is sorted)."""
        condition: Doc = {}
        indexes: list[str] = []
        # the partial indexes' fields name their $type: looked up in the index, not walked
        if self.reference is not None:
            condition["referenceKey"] = partial_string(reference_key(tenant_id, self.reference))
            indexes.append(BY_REFERENCE)
        if self.provider_message_id is not None:
            # any account's: the keys "<id>:<account>", which sort from "<id>:" below "<id>;"
            mid = self.provider_message_id
            condition["providerKey"] = {"$gte": f"{mid}:", "$lt": f"{mid};", "$type": "string"}
            condition["providerMessageId"] = mid
            indexes.append(BY_PROVIDER_MESSAGE)
        if self.recipient_hash is not None:
            condition["recipientHash"] = self.recipient_hash
            indexes.append(BY_RECIPIENT)
        if not indexes:
            return None
        return condition, indexes[0]

    def created(self) -> Doc | None:
        bounds: Doc = {}
        if self.created_from is not None:
            bounds["$gte"] = self.created_from
        if self.created_to is not None:
            bounds["$lt"] = self.created_to
        return bounds or None


def _reference_taken(error: Doc) -> bool:
    return error.get("code") == DUPLICATE_KEY and BY_REFERENCE in str(error.get("errmsg", ""))


class Notifications:
    """The ``notifications`` collection: one document per notification, its timeline inside.

    No other collection repeats the timeline: each step is a ``$push`` in the same update that
    moves the state, so a delivered notification is three row versions (created, claimed,
    outcome) and nothing else.
    """

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        counters: Counters,
        schedule: AsyncCollection[Doc],
    ) -> None:
        self.collection = collection
        self.counters = counters
        self.schedule = schedule  # a cancelled SCHEDULED notification leaves the schedule

    # --- intake ---------------------------------------------------------------------------------

    async def insert(self, docs: Sequence[Doc]) -> set[ObjectId]:
        """Write accepted notifications in one round trip per chunk (500); return the ids of
        those refused because their tenant already has a notification with their
        ``reference`` (the unique index decides; everything else is written)."""
        taken: set[ObjectId] = set()
        for i in range(0, len(docs), CHUNK):
            chunk = docs[i : i + CHUNK]
            try:
                await self.collection.insert_many(chunk, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(not _reference_taken(e) for e in errors):
                    raise StoreUnavailable(f"could not write notifications: {exc}") from exc
                taken.update(chunk[e["index"]]["_id"] for e in errors)
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not write notifications: {exc}") from exc
        return taken

    async def by_reference(self, tenant_id: str, reference: str) -> Doc | None:
        """The tenant's notification with this ``reference`` (its id and state only)."""
        return await self.collection.find_one(
            {"referenceKey": partial_string(reference_key(tenant_id, reference))},
            {"status": 1, "createdAt": 1},
            hint=BY_REFERENCE,
        )

    async def delete(self, ids: Sequence[ObjectId]) -> None:
        """Compensate an intake whose publish failed: nothing half-written stays behind."""
        if ids:
            try:
                await self.collection.delete_many({"_id": {"$in": list(ids)}})
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not remove notifications: {exc}") from exc

    async def intend_intake(self, docs: Sequence[Doc]) -> Tally:
        """Record how ``docs`` will count once stored, before they are (``counters``): each by
        its intake step, so a notification that is not stored, or removed again, never
        counts. Raises StoreUnavailable."""
        tally = Tally()
        for d in docs:
            tally.created(
                d["tenantId"],
                d["_id"],
                d["timeline"][-1]["_id"][len(str(d["_id"])) :],
                d["status"],
                kind_of(d),
            )
        await self.counters.intend(tally)
        return tally

    async def repair_counters(
        self, *, after_s: float = TALLY_AFTER_S, keep_s: float = TALLY_KEEP_S
    ) -> int:
        """Settle the tallies dead writers left, from these documents (``counters``); the
        number of steps counted (``counter_repaired_steps_total``)."""
        counted = await self.counters.repair(self.collection, after_s=after_s, keep_s=keep_s)
        metrics.COUNTER_REPAIRED_STEPS.inc(counted)
        return counted

    async def count_intake(self, docs: Sequence[Doc]) -> None:
        """Count notifications stored already, without intake (an import, a test's seed):
        their tally recorded and settled at once."""
        await self.counters.settle(await self.intend_intake(docs), {str(d["_id"]) for d in docs})

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, tenant_id: str, oid: ObjectId) -> Doc | None:
        """A notification of ``tenant_id`` as it is now, with its timeline."""
        return await self.collection.find_one({"_id": oid, "tenantId": tenant_id})

    async def get_many(self, ids: Sequence[ObjectId]) -> list[Doc]:
        """Documents by id (any tenant: for the relay and the tests), in one round trip."""
        if not ids:
            return []
        return await self.collection.find({"_id": {"$in": list(ids)}}).to_list(None)

    async def page(self, tenant_id: str, query: ListQuery, page: int, limit: int) -> Page:
        """Newest first, without timelines; with ``query.after``, the items older than that
        one instead of page ``page`` (cursor pagination, stable while new ones arrive).

        A lookup (reference, provider message id, recipient) matches few: its own index, every
        match sorted. Otherwise DocumentDB (FerretDB v2) finds a filter's rows through an index
        but does not walk the index in sort order: it sorts everything the filter matches, so
        a list over 100,000 notifications cost 650 ms. So the page is looked for in a window
        of recent ``createdAt`` (below the cursor or the range's end) that grows until it
        holds the page (each try an index range, sorting only the rows inside it: the first a
        second long, each next one sized from the rate the last one showed, so a busy tenant's
        page costs one or two tries of a few hundred rows and a quiet one's a few more, where
        a first window of 10 minutes sorted 30,000 rows at 50/s); a page found
        in a window is exactly the page overall, because everything outside the window is
        older. On MongoDB the same queries walk the index. The index is named (a hint): the
        one on the filter's field with the fewest matches by the tenant's counters, which
        PostgreSQL's planner, blind to the distribution of values inside documents, does not
        pick by itself.
        """
        base: Doc = {"tenantId": tenant_id, **query.filters}
        created = query.created()
        if created is not None:
            base["createdAt"] = created
        lookup = query.lookup(tenant_id)
        skip = 0 if query.after is not None else (page - 1) * limit
        if lookup is not None:
            condition, index = lookup
            base.update(condition)
            found, matches = await asyncio.gather(
                self.collection.count_documents(base, hint=index),
                self._older(base, index, skip, limit, query.after, windowed=False),
            )
            return _page(matches, (found, True), limit)
        stats = await self.counters.of(tenant_id)
        filters = query.filters
        sizes = {
            name: getattr(stats, counter).get(filters[name], 0)
            for name, counter in _COUNTER_OF.items()
            if name in filters
        }
        index = BY_FIELD[min(sizes, key=sizes.__getitem__)] if sizes else BY_FIELD[""]
        # what the counters say matches, when they can say it: the total, one field's
        # counter, or the facets' sum for several fields; never for a createdAt range
        counted: int | None = None
        if created is None and not filters:
            counted = stats.total
        elif created is None:
            counted = next(iter(sizes.values())) if len(sizes) == 1 else stats.matching(filters)
        # the index rows a count or a sort reads (the smallest counter of a filtered field):
        # it decides whether to sort at once, so the count and the page can be looked for
        # together, and whether the documents are counted
        bound = min(sizes.values()) if sizes else stats.total
        total, items = await asyncio.gather(
            self._total(base, counted, bound, index),
            self._older(base, index, skip, limit, query.after, windowed=bound > _SORT_ALL),
        )
        return _page(items, total, limit)

    async def _older(
        self,
        query: Doc,
        index: str,
        skip: int,
        limit: int,
        after: tuple[datetime, ObjectId] | None,
        *,
        windowed: bool,
    ) -> list[Doc]:
        """The page of ``query``, newest first; with ``after``, only what sorts after it: first
        its ties (same ``createdAt``, smaller id: a group commit gives many the same time),
        then everything older."""
        if after is None:
            return await self._newest(query, index, skip, limit, windowed=windowed)
        at, oid = after
        ties = await self._sorted({**query, "createdAt": at, "_id": {"$lt": oid}}, index, 0, limit)
        if len(ties) == limit:
            return ties
        older = {**query, "createdAt": {**query.get("createdAt", {}), "$lt": at}}
        rest = await self._newest(older, index, 0, limit - len(ties), windowed=windowed)
        return ties + rest

    async def _newest(
        self, query: Doc, index: str, skip: int, limit: int, *, windowed: bool
    ) -> list[Doc]:
        bounds: Doc = query.get("createdAt", {})
        end = min(bounds["$lt"], utcnow()) if "$lt" in bounds else utcnow()
        window = _FIRST_WINDOW
        while windowed and window < _LAST_WINDOW:
            start = end - window
            if "$gte" in bounds and bounds["$gte"] >= start:
                break  # the range itself is smaller than the window: sort it whole
            recent = {**query, "createdAt": {**bounds, "$gte": start}}
            items = await self._sorted(recent, index, skip, limit)
            if len(items) == limit:
                return items
            # how many the window held: the rows before the page and the page's; a window
            # that ended before the page (a skip past its rows) is counted
            held = skip + len(items)
            if not items and skip:
                held = await self.collection.count_documents(recent, hint=index)
            window *= _growth(held, skip + limit)
        return await self._sorted(query, index, skip, limit)

    async def _sorted(self, query: Doc, index: str, skip: int, limit: int) -> list[Doc]:
        cursor = (
            self.collection.find(query, {"timeline": 0})
            .sort(NEWEST_FIRST)
            .hint(index)
            .skip(skip)
            .limit(limit)
        )
        return await cursor.to_list()

    async def _total(
        self, query: Doc, counted: int | None, bound: int, index: str
    ) -> tuple[int, bool]:
        """How many match, and whether exactly. When counting them reads at most
        ``_COUNT_UP_TO`` index rows (``bound``), they are counted. Above that, when the
        tenant's counters say (no filter, or filters on status, type and priority), the
        counters are the answer: they move with every change and drift only when a counter
        write fails (reconcile reports that). Otherwise (a createdAt range) they are counted
        in windows up to ``_COUNT_UP_TO``, and more than that is said as such."""
        if bound <= _COUNT_UP_TO:
            return await self.collection.count_documents(query, hint=index), True
        if counted is not None:
            return counted, True
        return await self._count_in_windows(query, index)

    async def _count_in_windows(self, query: Doc, index: str) -> tuple[int, bool]:
        """``query``'s documents counted newest first in windows of ``createdAt`` (within its
        range, when it has one), each sized from what the last one held,
        until all are counted or more than ``_COUNT_UP_TO``. DocumentDB's index scan gathers
        every row of its range before a limit applies: one count of a 12-hour range cost
        255 ms at 1,000,000 notifications whatever its limit, windows that stop past 10,000
        cost 22 ms (three of them)."""
        bounds: Doc = query.get("createdAt", {})
        start: datetime | None = bounds.get("$gte")
        upper: datetime | None = bounds.get("$lt")  # the first window's end: the range's
        edge = min(upper, utcnow()) if upper is not None else utcnow()
        span, counted = _FIRST_WINDOW, 0
        while True:
            lower: datetime | None = edge - span
            if start is not None and lower is not None and lower <= start:
                lower = start
            elif span >= _LAST_WINDOW:
                lower = start  # everything older
            window: Doc = {}
            if lower is not None:
                window["$gte"] = lower
            if upper is not None:
                window["$lt"] = upper
            left = _COUNT_UP_TO + 1 - counted
            part = {k: v for k, v in query.items() if k != "createdAt"}
            if window:
                part["createdAt"] = window
            n = await self.collection.count_documents(part, hint=index, limit=left)
            counted += n
            if counted > _COUNT_UP_TO:
                return _COUNT_UP_TO, False
            if lower is None or lower == start:
                return counted, True
            edge = upper = lower
            # the next window aimed at what is still wanted, at the density this one showed
            # (a quarter more, not the list's twice: an index range costs every row in it)
            span *= 16 if n == 0 else max(1.25, min(16.0, 1.25 * (left - n) / n))

    async def dead_letters(self, tenant_id: str, filters: dict[str, str], limit: int) -> list[Doc]:
        """FAILED notifications of a tenant matching ``filters``, oldest first, up to ``limit``."""
        query: Doc = {"tenantId": tenant_id, "status": Status.FAILED.value, **filters}
        cursor = self.collection.find(query).sort([("createdAt", ASCENDING)]).limit(limit)
        return await cursor.to_list()

    # --- the operator's transitions -------------------------------------------------------------

    async def cancel(self, tenant_id: str, oid: ObjectId) -> tuple[Doc | None, str | None]:
        """Cancel a notification that waits (SCHEDULED, QUEUED, RETRYING).

        Returns (document, None) once cancelled, (None, None) if there is no such notification
        of this tenant, or (document, reason) when it cannot be cancelled. One conditional
        update decides it: a worker's claim of the round is the same kind of update on the same
        document, so of a cancel and a claim racing exactly one wins. A message still queued
        for a cancelled notification finds it CANCELLED and is dropped.
        """
        now = utcnow()
        step = log_entry(f"{oid}:cancel", Status.CANCELLED, "Cancelled by the client", now)
        try:
            found = await self.collection.find_one({"_id": oid, "tenantId": tenant_id})
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not cancel {oid}: {exc}") from exc
        if found is None:
            return None, None
        if found["status"] not in CANCELLABLE:
            return found, _not_cancellable(found)
        # counted from the state it was found in, and cancelled only from that state
        tally = Tally()
        tally.moved(
            tenant_id,
            oid,
            ":cancel",
            found["status"],
            Status.CANCELLED.value,
            kind=kind_of(found),
            by=True,
        )
        tally.mark(step)
        await self.counters.intend(tally)
        try:
            before = await self.collection.find_one_and_update(
                {"_id": oid, "tenantId": tenant_id, "status": found["status"]},
                cancel_update(step, now),
            )
            if before is None:
                await self.counters.settle(tally, ())
                doc = await self.collection.find_one({"_id": oid, "tenantId": tenant_id})
                if doc is None:
                    return None, None
                if doc["status"] in CANCELLABLE:  # it moved on and back meanwhile: again
                    return await self.cancel(tenant_id, oid)
                return doc, _not_cancellable(doc)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not cancel {oid}: {exc}") from exc
        await self.counters.settle(tally, {str(oid)})
        if before["status"] == Status.SCHEDULED.value:
            await self.schedule.delete_one({"_id": oid})
        before.update(status=Status.CANCELLED.value, cancelledAt=now, updatedAt=now)
        before["timeline"].append(step)
        return before, None

    async def replay(self, doc: Doc, trace: str = "") -> DeliveryJob | None:
        """Give a FAILED notification a fresh set of attempts; return its job to publish.

        None if it is not FAILED (anymore), or if its ``expiresAt`` passed: a replay would
        deliver it late, so it is refused and stays FAILED (its record says how it failed).
        The job names a new round, so even two replays racing each other produce one delivery:
        only one of them moves the document. ``trace``: the replay's traceparent, which the
        notification keeps from now on.
        """
        if doc["status"] != Status.FAILED.value or expired(doc, utcnow()):
            return None
        job = job_of(doc).replayed()
        if trace:
            job = replace(job, trace=trace)
        now = utcnow()
        step = log_entry(
            f"{doc['_id']}:replay:{job.round}",
            Status.QUEUED,
            "Replayed from the dead-letter queue",
            now,
            trace=trace,
        )
        tally = Tally()
        tally.moved(
            doc["tenantId"],
            doc["_id"],
            f":replay:{job.round}",
            Status.FAILED.value,
            Status.QUEUED.value,
            kind=kind_of(doc),
            by=True,
        )
        tally.mark(step)
        await self.counters.intend(tally)
        fields: Doc = {
            "status": Status.QUEUED.value,
            "retryCount": 0,
            "round": job.round,
            "updatedAt": now,
            "replayedAt": now,
        }
        if trace:
            fields["traceparent"] = trace
        result = await self.collection.update_one(
            {
                "_id": doc["_id"],
                "status": Status.FAILED.value,
                "round": doc.get("round", 0),
                **not_expired(now),
            },
            {
                "$set": fields,
                "$unset": {"deadLetter": "", "failedAt": "", "error": ""},
                "$push": {"timeline": step},
            },
        )
        await self.counters.settle(tally, {str(doc["_id"])} if result.matched_count else ())
        return job if result.matched_count else None

    async def unreplay(self, job: DeliveryJob, error: str) -> None:
        """Put a replayed notification back to FAILED when its publish was not confirmed."""
        now = utcnow()
        suffix = f":unreplay:{job.round}"
        tally = Tally()
        tally.moved(
            job.tenant_id,
            job.id,
            suffix,
            Status.QUEUED.value,
            Status.FAILED.value,
            kind=job.kind,
            by=True,
        )
        step = tally.mark(log_entry(f"{job.id}{suffix}", Status.FAILED, error, now))
        await self.counters.intend(tally)
        result = await self.collection.update_one(
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
                },
                "$push": {"timeline": step},
            },
        )
        await self.counters.settle(tally, {job.id} if result.matched_count else ())


def cancel_update(step: Doc, now: datetime) -> Doc:
    """A cancel's update of the notification document (``step``: its timeline entry); the
    seed of ``loadtest.bench_reads`` builds its documents with it too."""
    return {
        "$set": {"status": Status.CANCELLED.value, "cancelledAt": now, "updatedAt": now},
        "$push": {"timeline": step},
    }


def _not_cancellable(doc: Doc) -> str:
    if doc["status"] == Status.PROCESSING.value:
        return "a worker is delivering it already"
    return f"a {doc['status']} notification cannot be cancelled"


def _growth(held: int, wanted: int) -> int:
    """How many times longer the next window is, when this one held ``held`` of the
    ``wanted`` rows: twice what their rate says, within ``_GROWTH``; the most when it held
    none (the tenant's newest may be far back)."""
    low, high = _GROWTH
    if held <= 0:
        return high
    return max(low, min(high, -(-2 * wanted // held)))


def _page(items: list[Doc], total: tuple[int, bool], limit: int) -> Page:
    last = items[-1] if len(items) == limit else None
    return Page(
        items=items,
        total=total[0],
        exact=total[1],
        next_after=(last["createdAt"], last["_id"]) if last is not None else None,
    )
