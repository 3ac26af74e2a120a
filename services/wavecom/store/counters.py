"""Per-tenant counters (the stats endpoint): one document per tenant, changed by ``$inc``.

``$inc`` is atomic on MongoDB and on FerretDB v2, so every process adds to the same document
and a reader needs one lookup. Counters are statistics, not the record (the reconcile ledger
counts the documents themselves): a failure to update them is logged, never raised, so it
cannot fail a request or a batch whose notifications are already stored and queued.

Every state changer counts through a :class:`Tally`, so that a process killed between its
document writes and its ``$inc`` cannot leave the counters wrong for good:

1. ``intend``: before the batch's document writes, its tally is recorded in each of its
   tenants' stats documents as ``pending.<tally id>``: when, the notification ids (packed),
   and for each the timeline step the write pushes and the deltas it stands for (as a short
   code, :meth:`Tally.entries`; a worker's outcomes, recorded with its claims before their
   statuses are known, as moves from PROCESSING that the repair counts by the status of the
   step it finds: :meth:`Tally.moving`). One write per batch (a bulk of one update per
   tenant).
2. the document writes, each pushing its step (ids are unique to the writer: a claim token,
   or the tally's id in the step's ``by``).
3. ``settle``: the deltas of the steps that happened, ``$inc``'d together with the ``$unset``
   of the entry, in one update conditional on the entry still being there untouched by the
   repair: applied once, or not at all when the repair took it over.
4. ``repair`` (every API process, every ``TALLY_REPAIR_S``): an entry older than
   ``TALLY_AFTER_S`` belongs to a writer that died (or failed to settle): the steps found in
   the documents are counted and removed from the entry in one conditional update, so two
   repairs racing apply each step once. Steps not found stay listed and are looked for again
   on each pass until ``TALLY_KEEP_S``, so a writer that was only slow and writes its
   documents after a first repair is still counted (its own settle finds the entry taken and
   does nothing).
"""

from __future__ import annotations

import logging
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import Binary, ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc, utcnow
from wavecom.store.writes import DUPLICATE_KEY

log = logging.getLogger("wavecom.store.counters")

Changes = dict[str, Counter[str]]  # tenant -> field -> delta, fields like "byStatus.SENT"
Kind = tuple[str, str]  # a notification's channel and priority, which never change

# a stats document whose facets were counted from its first write (set when it is created):
# one from before them lacks it, and its lists count combined filters from the documents
FACETS = "facets"

# a tally still pending after this long belongs to a writer that died or could not settle
TALLY_AFTER_S = 30.0
# how often each API process looks for such tallies
TALLY_REPAIR_S = 5.0
# a repaired tally's steps not found yet are looked for until it is this old, then forgotten
TALLY_KEEP_S = 600.0


@dataclass(slots=True)
class TenantStats:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    by_priority: dict[str, int] = field(default_factory=dict)
    processing_ms_sum: int = 0
    processing_count: int = 0
    # (status, channel, priority) -> how many: None when the document predates the facets
    by_facet: dict[tuple[str, str, str], int] | None = None

    def matching(self, filters: Mapping[str, str]) -> int | None:
        """How many match ``filters`` (on status, type and priority), by the facets; None
        when they cannot say (a document from before them)."""
        if self.by_facet is None:
            return None
        want = (filters.get("status"), filters.get("type"), filters.get("priority"))
        return sum(
            n
            for key, n in self.by_facet.items()
            if all(w is None or w == k for w, k in zip(want, key, strict=True))
        )


def kind_of(doc: Doc) -> Kind:
    """A notification document's channel and priority (a job's: ``DeliveryJob.kind``)."""
    return doc["type"], doc["priority"]


def facet(status: str, kind: Kind) -> str:
    """The counter of one status, channel and priority together (``byFacet.<s>.<c>.<p>``):
    what a list filtered on more than one of them is counted from (store.notifications)."""
    return f"byFacet.{status}.{kind[0]}.{kind[1]}"


def _duplicate(error: Doc) -> bool:
    return bool(error.get("code") == DUPLICATE_KEY)


class Counters:
    """The ``stats`` collection: ``{_id: tenant, total, byStatus: {...}, byType, ...}``."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def add(self, changes: Changes) -> None:
        """Apply every tenant's deltas in one round trip; never raises (see the module)."""
        ops = [
            UpdateOne({"_id": tenant}, {"$inc": nonzero, **_CREATED}, upsert=True)
            for tenant, c in changes.items()
            if (nonzero := {k: v for k, v in c.items() if v})
        ]
        if not ops:
            return
        try:
            # two first upserts of one tenant raced: the loser's $inc was not applied
            if not await self._upsert(ops, lambda errors: all(_duplicate(e) for e in errors)):
                log.error("counters not updated after a retry: %s", changes)
        except Exception:  # any driver or server error; see the module docstring
            log.exception("counters not updated: %s", changes)

    async def intend(self, *tallies: Tally) -> None:
        """Record ``tallies`` in their tenants' stats documents, before their document writes
        (one round trip). Raises StoreUnavailable: nothing of the batch is written yet."""
        recorded: dict[str, Doc] = {}
        for tally in tallies:
            for tenant, entry in tally.entries().items():
                recorded.setdefault(tenant, {})[f"pending.{tally.id}"] = entry
        ops = [
            UpdateOne({"_id": tenant}, {"$set": entries, **_CREATED}, upsert=True)
            for tenant, entries in recorded.items()
        ]
        if not ops:
            return
        try:
            # two first upserts of one tenant raced (MongoDB answers a duplicate key,
            # FerretDB v2 may answer an internal error): once more, the document exists
            if await self._upsert(ops, lambda errors: True):
                return
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record counter changes: {exc}") from exc
        raise StoreUnavailable("could not record counter changes after a retry")

    async def _upsert(self, ops: list[UpdateOne], retried: Callable[[list[Doc]], bool]) -> bool:
        """Write ``ops`` (upserts of tenants' documents) in one round trip, and the failed
        ones once more when ``retried`` says so of the write errors (the first upserts of a
        tenant raced). True once every one is written, False when the second try failed
        too; a write error not retried (or a bulk error without write errors) is raised."""
        for _ in range(2):
            try:
                await self.collection.bulk_write(ops, ordered=False)
                return True
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if not errors or not retried(errors):
                    raise
                ops = [ops[e["index"]] for e in errors]
        return False

    async def settle(self, tally: Tally, done: Iterable[str]) -> None:
        """Count the steps of ``tally`` that happened (the notification ids in ``done``) and
        drop it (see the module); never raises: what is not settled the repair settles."""
        await self.settle_many([(tally, set(done))])

    async def settle_many(self, settled: Sequence[tuple[Tally, Collection[str]]]) -> None:
        """:meth:`settle` for several tallies: one conditional update per tenant for all of
        them; when one of them was taken over by the repair, each tally again alone (an
        update that matched dropped its entries, so it cannot match twice)."""
        merged: dict[str, tuple[Counter[str], list[str]]] = {}
        alone: list[tuple[str, Counter[str], list[str]]] = []
        for tally, done in settled:
            for tenant, inc in tally.deltas(done).items():
                total, ids = merged.setdefault(tenant, (Counter(), []))
                total.update(inc)
                ids.append(tally.id)
                alone.append((tenant, inc, [tally.id]))
        if not merged:
            return
        ops = [_settling(t, inc, ids) for t, (inc, ids) in merged.items()]
        try:
            result = await self.collection.bulk_write(ops, ordered=False)
            if result.matched_count < len(ops) and len(alone) > len(merged):
                await self.collection.bulk_write(
                    [_settling(t, inc, ids) for t, inc, ids in alone], ordered=False
                )
        except Exception:  # any driver or server error; the repair settles it
            log.exception("counter changes not settled (the repair will): %s", merged)

    async def repair(
        self,
        notifications: AsyncCollection[Doc],
        *,
        after_s: float = TALLY_AFTER_S,
        keep_s: float = TALLY_KEEP_S,
    ) -> int:
        """Settle every tally pending for longer than ``after_s`` from the documents
        themselves (see the module); return how many steps it counted."""
        now = utcnow()
        counted = 0
        try:
            # a settled tally leaves ``pending: {}``: only tenants with one are read
            async for stats in self.collection.find(
                {"pending": {"$exists": True, "$ne": {}}}, {"pending": 1}
            ):
                for tally_id, entry in (stats.get("pending") or {}).items():
                    if entry["at"] <= now - timedelta(seconds=after_s):
                        counted += await self._repair(
                            notifications, stats["_id"], tally_id, entry, now, keep_s
                        )
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not repair counters: {exc}") from exc
        return counted

    async def _repair(
        self,
        notifications: AsyncCollection[Doc],
        tenant: str,
        tally_id: str,
        entry: Doc,
        now: datetime,
        keep_s: float,
    ) -> int:
        ids = _unpack_ids(entry["ids"])
        kinds = _recorded(entry)
        which = array("H", bytes(entry["k"]))
        left: list[int] = entry.get("left", list(range(len(ids))))
        docs = {
            d["_id"]: d
            async for d in notifications.find(
                {"_id": {"$in": [ids[i] for i in left]}},
                {
                    "timeline._id": 1,
                    "timeline.by": 1,
                    "timeline.status": 1,
                    "processingTimeMs": 1,
                },
            )
        }
        inc: Counter[str] = Counter()
        remaining: list[int] = []
        for i in left:
            kind = kinds[which[i]]
            doc = docs.get(ids[i])
            step = f"{ids[i]}{kind.suffix}"
            found = next(
                (
                    s
                    for s in (doc or {}).get("timeline") or []
                    if s.get("_id") == step and (not kind.by or s.get("by") == tally_id)
                ),
                None,
            )
            if doc is not None and found is not None:
                deltas, ms = kind.counted(str(found.get("status")))
                inc.update(deltas)
                if ms:
                    inc["processingMsSum"] += int(doc.get("processingTimeMs") or 0)
            else:
                remaining.append(i)
        key = f"pending.{tally_id}"
        rounds = int(entry.get("r", 0))
        update: Doc = (
            {"$unset": {key: ""}}
            if not remaining or entry["at"] <= now - timedelta(seconds=keep_s)
            else {"$set": {f"{key}.r": rounds + 1, f"{key}.left": remaining}}
        )
        if nonzero := {k: v for k, v in inc.items() if v}:
            update["$inc"] = nonzero
        result = await self.collection.update_one(
            {
                "_id": tenant,
                f"{key}.at": entry["at"],
                f"{key}.r": rounds if rounds else {"$exists": False},
            },
            update,
        )
        if not result.matched_count:
            return 0  # settled by its writer, or by another repair, meanwhile
        if inc:
            log.warning(
                "counted %d steps of %s's tally %s that its writer never settled",
                len(left) - len(remaining),
                tenant,
                tally_id,
            )
        return len(left) - len(remaining)

    async def without_facets(self) -> list[str]:
        """The tenants whose stats documents predate the facets (created before the upgrade
        that added them): their lists count combined filters from the documents."""
        found = self.collection.find({FACETS: {"$ne": True}}, {"_id": 1})
        return sorted([str(d["_id"]) async for d in found])

    async def set_facets(self, tenant: str, counts: Mapping[tuple[str, str, str], int]) -> None:
        """Set ``tenant``'s facets to ``counts`` (status, channel, priority) and trust them from
        now on. Counted from the documents while nothing writes (``python -m wavecom.admin
        tenants count-facets``): a move between the count and this write would be missed."""
        nested: Doc = {}
        for (status, channel, priority), n in counts.items():
            nested.setdefault(status, {}).setdefault(channel, {})[priority] = n
        await self.collection.update_one(
            {"_id": tenant}, {"$set": {"byFacet": nested, FACETS: True}}, upsert=True
        )

    async def of(self, tenant_id: str) -> TenantStats:
        """The tenant's counters."""
        d = await self.collection.find_one({"_id": tenant_id}) or {}

        def group(name: str) -> dict[str, int]:
            return {k: int(v) for k, v in (d.get(name) or {}).items()}

        return TenantStats(
            total=int(d.get("total", 0)),
            by_status=group("byStatus"),
            by_type=group("byType"),
            by_priority=group("byPriority"),
            processing_ms_sum=int(d.get("processingMsSum", 0)),
            processing_count=int(d.get("processingCount", 0)),
            by_facet=_facets(d.get("byFacet") or {}) if d.get(FACETS) else None,
        )


@dataclass(frozen=True, slots=True)
class _Step:
    tenant: str
    nid: ObjectId
    kind: int
    ms: int


# a step's new status in a kind recorded before it is known (Tally.moving)
ANY = "*"

# a kind's key in a tally: its step's suffix, its code (``<old>|<new>|<channel>|<priority>``,
# no old status for an intake), whether the repair reads a processing time, whether the step
# is marked ``by``
_KindKey = tuple[str, str, bool, bool]


class Tally:
    """One batch's counter changes, as steps: each a notification, the timeline step id its
    write pushes (the notification id + ``suffix``) and the deltas that step stands for.

    ``by``: the step's id is not unique to this writer (a cancel, a receipt: two racing
    writers push the same id, one of them wins), so the step carries ``by`` (this tally's id,
    :meth:`mark`) and only a step so marked counts for it.

    Recorded compactly (:meth:`entries`): a batch's steps share a few kinds, each kind is a
    short code naming the statuses, channel and priority (``0|QUEUED|PROCESSING|SMS|HIGH|``)
    with its suffix listed once, not its deltas by name. Every update of the stats document
    writes the whole document again, pending tallies included, and PostgreSQL's cost grows
    with its size (``python -m loadtest.bench_counters``).
    """

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.at = utcnow()
        self._kinds: dict[_KindKey, int] = {}
        self._incs: list[dict[str, int]] = []
        self._steps: dict[str, _Step] = {}

    def created(
        self, tenant: str, nid: ObjectId | str, suffix: str, status: str, kind: Kind
    ) -> None:
        """One notification of ``kind`` stored in ``status`` by its intake step ``suffix``."""
        code = f"|{status}|{kind[0]}|{kind[1]}"
        self._add(tenant, nid, (suffix, code, False, False), None)

    def moved(
        self,
        tenant: str,
        nid: ObjectId | str,
        suffix: str,
        old: str,
        new: str,
        *,
        kind: Kind,
        ms: int | None = None,
        by: bool = False,
    ) -> None:
        """One notification of ``kind`` moving from status ``old`` to ``new`` by the step
        ``suffix``."""
        code = f"{old}|{new}|{kind[0]}|{kind[1]}"
        self._add(tenant, nid, (suffix, code, ms is not None, by), ms)

    def moving(
        self, tenant: str, nid: ObjectId | str, suffix: str, old: str, *, kind: Kind
    ) -> None:
        """One notification of ``kind`` that the step ``suffix`` (marked ``by``) will move
        from ``old`` to a status not known yet: recorded so, the repair counts it by the
        status of the step it finds (a worker's outcomes, recorded with the batch's claims).
        :meth:`moved` of the same notification says the status once known, for the settle."""
        self._add(tenant, nid, (suffix, f"{old}|{ANY}|{kind[0]}|{kind[1]}", False, True), None)

    def _add(self, tenant: str, nid: ObjectId | str, key: _KindKey, ms: int | None) -> None:
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = len(self._incs)
            self._incs.append(_deltas(key[1], key[2]))
        oid = nid if isinstance(nid, ObjectId) else ObjectId(nid)
        self._steps[str(oid)] = _Step(tenant, oid, kind, ms or 0)

    def mark(self, step: Doc) -> Doc:
        """``step``, marked as this tally's (for the steps counted ``by``)."""
        step["by"] = self.id
        return step

    def entries(self) -> dict[str, Doc]:
        """What :meth:`Counters.intend` records per tenant: ``sx`` the steps' suffixes, and
        ``kinds`` each ``<suffix>|<old>|<new>|<channel>|<priority>|<flags>`` (the suffix by
        its place in ``sx``; no old status for an intake; ``m``: the repair reads a processing
        time, ``b``: the step is marked ``by``). Until 2026-12-07 a kind was recorded as its
        deltas by name, ``{s, inc, ms?, by?}``: the repair reads both."""
        suffixes: dict[str, int] = {}
        kinds: list[str] = []
        for s, code, ms, by in self._kinds:
            sx = suffixes.setdefault(s, len(suffixes))
            kinds.append(f"{sx}|{code}|{'m' if ms else ''}{'b' if by else ''}")
        per: dict[str, list[_Step]] = {}
        for st in self._steps.values():
            per.setdefault(st.tenant, []).append(st)
        return {
            tenant: {
                "at": self.at,
                "ids": Binary(b"".join(st.nid.binary for st in steps)),
                "k": Binary(array("H", [st.kind for st in steps]).tobytes()),
                "sx": list(suffixes),
                "kinds": kinds,
            }
            for tenant, steps in per.items()
        }

    def deltas(self, done: Collection[str]) -> Changes:
        """Each tenant's deltas from the steps of the notifications in ``done`` (every tenant
        of the tally is named, with nothing to add when none of its steps happened)."""
        changes: Changes = {}
        for nid, st in self._steps.items():
            c = changes.setdefault(st.tenant, Counter())
            if nid in done:
                c.update(self._incs[st.kind])
                c["processingMsSum"] += st.ms
        return changes


@dataclass(frozen=True, slots=True)
class _Recorded:
    """One kind of a recorded tally, as the repair reads it."""

    suffix: str
    inc: dict[str, int]
    ms: bool
    by: bool
    code: str = ""  # a move to a status not known when recorded: ``<old>|*|<channel>|<priority>``

    def counted(self, status: str) -> tuple[dict[str, int], bool]:
        """The deltas of a step of this kind found in ``status``, and whether its processing
        time counts."""
        if not self.code:
            return self.inc, self.ms
        ms = status == Status.SENT.value  # as the writer's settle counts it (Outcome)
        return _deltas(self.code.replace(ANY, status, 1), ms), ms


def _deltas(code: str, ms: bool) -> dict[str, int]:
    """The deltas a kind's code stands for (``<old>|<new>|<channel>|<priority>``; none while
    the new status is not known)."""
    old, new, channel, priority = code.split("|")
    if new == ANY:
        return {}
    kind = (channel, priority)
    if not old:  # an intake
        return {
            "total": 1,
            f"byType.{channel}": 1,
            f"byPriority.{priority}": 1,
            f"byStatus.{new}": 1,
            facet(new, kind): 1,
        }
    inc = {f"byStatus.{old}": -1, f"byStatus.{new}": 1, facet(old, kind): -1, facet(new, kind): 1}
    if ms:
        inc["processingCount"] = 1
    return inc


def _recorded(entry: Doc) -> list[_Recorded]:
    """The kinds of a pending entry, in either of its forms (see :meth:`Tally.entries`)."""
    suffixes: list[str] = entry.get("sx") or []
    kinds: list[_Recorded] = []
    for kind in entry["kinds"]:
        if isinstance(kind, str):
            sx, *parts, flags = kind.split("|")
            code, ms = "|".join(parts), "m" in flags
            kinds.append(
                _Recorded(
                    suffixes[int(sx)],
                    _deltas(code, ms),
                    ms,
                    "b" in flags,
                    code if parts[1] == ANY else "",
                )
            )
        else:
            kinds.append(
                _Recorded(kind["s"], dict(kind["inc"]), bool(kind.get("ms")), bool(kind.get("by")))
            )
    return kinds


# what a stats document is created with: its facets are counted from its first write
_CREATED: Doc = {"$setOnInsert": {FACETS: True}}


def _facets(nested: Doc) -> dict[tuple[str, str, str], int]:
    return {
        (status, channel, priority): int(n)
        for status, channels in nested.items()
        for channel, priorities in channels.items()
        for priority, n in priorities.items()
    }


def _settling(tenant: str, inc: Counter[str], tally_ids: Sequence[str]) -> UpdateOne:
    """Apply ``inc`` and drop the tallies, only while their writers own them (see module)."""
    match: Doc = {"_id": tenant}
    unset: Doc = {}
    for t in tally_ids:
        match[f"pending.{t}.at"] = {"$exists": True}
        match[f"pending.{t}.r"] = {"$exists": False}
        unset[f"pending.{t}"] = ""
    update: Doc = {"$unset": unset}
    if nonzero := {k: v for k, v in inc.items() if v}:
        update["$inc"] = nonzero
    return UpdateOne(match, update)


def _unpack_ids(packed: bytes) -> list[ObjectId]:
    data = bytes(packed)
    return [ObjectId(data[i : i + 12]) for i in range(0, len(data), 12)]
