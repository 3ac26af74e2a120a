"""Every index the store's queries need, created at start-up on MongoDB and FerretDB v2 alike.

Each entry names the queries it serves. ``tests/store/test_indexes.py`` records every command
the API, the relay and a worker send and fails on any query a collection scan answers.
Unique ``_id`` lookups (keys, tenants, idempotency records, counters, quota buckets, claims
read back by id) need no entry.

On DocumentDB (FerretDB v2) every index is created with ``enableCompositeTerm``: one ordered
index term per document instead of one per field, which is what a compound index means on
MongoDB. DocumentDB never makes a HOT update (every index is on the ``document`` column that
each update rewrites), so every row version writes every index's terms: with per-field terms
the five indexes below wrote 14 terms per version, with composite terms five. Measured on the
development stack (``python -m loadtest.bench_writes --variants all,all-per-field``), the
database's CPU per delivered notification (insert, claim, outcome) fell from 3.2 ms to
0.8 ms in groups of 20 and from 4.1 to 1.8 ms alone. MongoDB refuses the option, so it is
sent only to DocumentDB; an index that exists with other options is built again.

The two unique indexes are on one field each, a key that joins the pair it makes unique
(``referenceKey``: tenant and reference; ``providerKey``: message id and provider account;
``documents.reference_key``/``provider_key``). DocumentDB checks a compound unique index
through each field's own terms even with composite terms, so every insert (reference) and every
outcome (message id) compared itself with every document of the same tenant or provider: the
cost grew with the collection. Measured on the development stack, inserting the benchmark's
documents 20,000 at a time into a collection with that one index (``python -m
loadtest.unique_indexes``, ``unique-20261206T203635Z.json``): on (message id, provider) 5.3 s
for the first 20,000 and 26.0 s for the fifth, on (tenant, reference) 2.9 s and 5.8 s; on the
joined fields 2.7 and 2.7 s, 2.2 and 2.2 s. An upgrade fills the keys of the documents
stored before them and drops the compound indexes they replace (``RETIRED``).
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from wavecom.core.constants import (
    API_KEYS,
    NOTIFICATIONS,
    OUTBOX,
    PROVIDERS,
    RECEIPTS,
    SCHEDULE,
    TENANTS,
)
from wavecom.store.callbacks import (
    BY_ENDPOINT_DUE,
    BY_NOTIFICATION,
    BY_TENANT_STATE,
    CALLBACKS,
    ENDPOINTS,
)
from wavecom.store.documents import Doc, provider_key, reference_key
from wavecom.store.expiries import BY_EXPIRY

# the list index for a filter on each field ("" for no filter): page() names it as a hint
BY_FIELD = {
    "": "tenant_created",
    "status": "tenant_status_created",
    "type": "tenant_type_created",
    "priority": "tenant_priority_created",
}
# the lookups: each names its index as a hint (DocumentDB's planner does not pick a partial
# index by itself; it walked ``_id`` instead)
BY_RECIPIENT = "tenant_recipient_created"
BY_REFERENCE = "reference_key"
BY_PROVIDER_MESSAGE = "provider_key"
# the tenants kept off shared provider accounts (every worker's account refresh asks)
NO_SHARED_FALLBACK = "shared_fallback"
# what an outcome whose message id is taken keeps aside (``<field>Taken``), the key first
PROVIDER_KEY_FIELDS = ("providerKey", "providerMessageId")
# indexes of earlier versions that the ones above replace: dropped at start-up when found
RETIRED = {NOTIFICATIONS: ("tenant_reference", "provider_message")}


def partial_string(value: str) -> Doc:
    """The condition on a partial index's field (``reference``, ``providerMessageId``: only
    strings are in it) that lets DocumentDB look the value up in the index. Given a bare
    equality, it takes the hinted partial index but cannot tell the query is a subset of it:
    it walks every entry (``Index Cond: document @<> {field: {fullScan: true}}``) and filters
    the rows, at 1,000,000 notifications every sent one for each lookup (issue #25 target 5,
    ``make bench-reads``). Naming the index's own ``$type`` makes the value the index
    condition. Nothing else changes: the value is a string either way."""
    return {"$eq": value, "$type": "string"}


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
        # the expiry sweep (store/expiries.py): waiting notifications whose expiresAt passed,
        # equality on the status and a range on the expiry; only notifications with an expiry
        # are in it
        IndexModel(
            [("status", ASCENDING), ("expiresAt", ASCENDING)],
            name=BY_EXPIRY,
            partialFilterExpression={"expiresAt": {"$type": "date"}},
        ),
        # ?recipient= (the support desk's "what happened to this customer's OTP?"), newest
        # first; the index holds the keyed hash, never the recipient (store/recipients.py)
        IndexModel(
            [("tenantId", ASCENDING), ("recipientHash", ASCENDING), ("createdAt", DESCENDING)],
            name=BY_RECIPIENT,
        ),
        # ?reference=: the tenant's own id, unique per tenant when given (the arbiter of two
        # creates racing with one reference); one field, "<tenant>:<reference>" (see above)
        IndexModel(
            [("referenceKey", ASCENDING)],
            name=BY_REFERENCE,
            unique=True,
            partialFilterExpression={"referenceKey": {"$type": "string"}},
        ),
        # ?providerMessageId= (a range: "<id>:" up to "<id>;"), and the provider receipts that
        # match on (message id, account): unique per account, the arbiter of which notification
        # a receipt moves; one field, "<message id>:<account>" (see above). Only sent
        # notifications have one, so only they are in it
        IndexModel(
            [("providerKey", ASCENDING)],
            name=BY_PROVIDER_MESSAGE,
            unique=True,
            partialFilterExpression={"providerKey": {"$type": "string"}},
        ),
    ],
    # the receipts sweep, oldest first (store/receipts.py): a handful at most, held for seconds
    RECEIPTS: [IndexModel([("receivedAt", ASCENDING)], name="received")],
    SCHEDULE: [IndexModel([("dueAt", ASCENDING)], name="due")],
    OUTBOX: [IndexModel([("dueAt", ASCENDING)], name="due")],
    PROVIDERS: [IndexModel([("updatedAt", ASCENDING)], name="fresh")],
    API_KEYS: [IndexModel([("tenantId", ASCENDING), ("createdAt", ASCENDING)], name="by_tenant")],
    # the tenants kept off shared accounts, asked by each worker every PROVIDERS_POLL_S; without
    # it PostgreSQL walked every tenant's document (a Seq Scan, or ``_id_`` end to end)
    TENANTS: [IndexModel([("sharedFallback", ASCENDING)], name=NO_SHARED_FALLBACK)],
    # status callbacks (store/callbacks.py): only tenants with endpoints have documents here
    ENDPOINTS: [IndexModel([("tenantId", ASCENDING), ("createdAt", ASCENDING)], name="by_tenant")],
    CALLBACKS: [
        # an endpoint's due callbacks, the oldest due first (the callbacks process's lanes)
        IndexModel(
            [("endpointId", ASCENDING), ("state", ASCENDING), ("dueAt", ASCENDING)],
            name=BY_ENDPOINT_DUE,
        ),
        # GET /api/notifications/{id}/callbacks
        IndexModel([("tenantId", ASCENDING), ("notificationId", ASCENDING)], name=BY_NOTIFICATION),
        # the tenant's dead letters, the most recently parked first
        IndexModel(
            [("tenantId", ASCENDING), ("state", ASCENDING), ("updatedAt", DESCENDING)],
            name=BY_TENANT_STATE,
        ),
    ],
}


log = logging.getLogger("wavecom.store.indexes")

# DocumentDB's option for one composite term per document (MongoDB's compound-index meaning)
COMPOSITE = {"enableCompositeTerm": True}
# the index exists under this name with other keys or options
_INDEX_OPTIONS_CONFLICT = (85, 86)
_DUPLICATE_KEY = 11000


def _repeats(exc: OperationFailure) -> bool:
    """A unique index could not be built because documents repeat its key: MongoDB answers a
    duplicate key; FerretDB v2 a duplicate key for some indexes and, for a one-field one, an
    internal error naming the exclusion constraint DocumentDB enforces uniqueness with."""
    return exc.code == _DUPLICATE_KEY or (
        exc.code == 1 and "could not create exclusion constraint" in str(exc)
    )


# unique indexes an upgrade made unique over fields older documents may repeat: to build one,
# every repeat of its key but the oldest document's has the fields moved to ``<field>Taken``
# (what store/writes.py's bulk_unless_taken does from then on)
_SET_ASIDE = {BY_PROVIDER_MESSAGE: PROVIDER_KEY_FIELDS}
# the joined key fields, filled at the upgrade that adds their index: index name -> (field,
# the fields it joins; the documents that have them all as strings get it)
_KEYS = {
    BY_REFERENCE: ("referenceKey", ("tenantId", "reference")),
    BY_PROVIDER_MESSAGE: ("providerKey", ("providerMessageId", "provider")),
}


async def is_documentdb(db: AsyncDatabase[Doc]) -> bool:
    """True when the server is FerretDB on DocumentDB (its buildInfo says so)."""
    info: Doc = await db.client.admin.command("buildInfo")
    return "ferretdb" in info


def models_for(collection: str, *, documentdb: bool) -> list[IndexModel]:
    """The collection's indexes as this server should have them."""
    models = INDEXES[collection]
    if not documentdb:
        return models
    return [IndexModel(m.document["key"].items(), **_options(m), **COMPOSITE) for m in models]


def _options(model: IndexModel) -> dict[str, Any]:
    return {k: v for k, v in model.document.items() if k != "key"}


async def ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    """Create what is missing; idempotent. An index that exists under the same name with other
    keys or options (an upgrade changed it) is dropped and built again."""
    documentdb = await is_documentdb(db)
    for collection in INDEXES:
        wanted = models_for(collection, documentdb=documentdb)
        await _fill_keys(db[collection], wanted)
        try:
            await db[collection].create_indexes(wanted)
        except OperationFailure as exc:
            if exc.code not in _INDEX_OPTIONS_CONFLICT and not _repeats(exc):
                raise
            for model in wanted:
                await _rebuild(db, collection, model)
        await _drop_retired(db[collection])


async def _fill_keys(coll: AsyncCollection[Doc], wanted: list[IndexModel]) -> None:
    """Before a joined key's index is first built: the key of every document stored without
    it (one scan, at that upgrade only; 500 updates a round trip)."""
    names = {m.document["name"] for m in wanted} & set(_KEYS)
    if not names:
        return
    missing = names - set(await coll.index_information())
    for name in sorted(missing):
        field, parts = _KEYS[name]
        query: Doc = {p: {"$type": "string"} for p in parts}
        query[field] = {"$exists": False}
        ops: list[UpdateOne] = []
        async for d in coll.find(query, dict.fromkeys(parts, 1)):
            ops.append(UpdateOne({"_id": d["_id"]}, {"$set": {field: _joined(name, d)}}))
            if len(ops) == 500:
                await coll.bulk_write(ops, ordered=False)
                ops = []
        if ops:
            await coll.bulk_write(ops, ordered=False)


def _joined(name: str, d: Doc) -> str:
    if name == BY_REFERENCE:
        return reference_key(d["tenantId"], d["reference"])
    return provider_key(d["providerMessageId"], d["provider"])


async def _drop_retired(coll: AsyncCollection[Doc]) -> None:
    retired = set(RETIRED.get(coll.name, ())) & set(await coll.index_information())
    for name in sorted(retired):
        log.warning("index %s.%s is replaced: dropping it", coll.name, name)
        await coll.drop_index(name)


async def _rebuild(db: AsyncDatabase[Doc], collection: str, model: IndexModel) -> None:
    name = model.document["name"]
    try:
        await db[collection].create_indexes([model])
        return
    except OperationFailure as exc:
        if exc.code in _INDEX_OPTIONS_CONFLICT:
            log.warning("index %s.%s changed: building it again", collection, name)
            await db[collection].drop_index(name)
        elif not _repeats(exc) or name not in _SET_ASIDE:
            raise
    if name in _SET_ASIDE:
        await _set_aside_repeats(db[collection], model, _SET_ASIDE[name])
    await db[collection].create_indexes([model])


async def _set_aside_repeats(
    coll: AsyncCollection[Doc], model: IndexModel, fields: tuple[str, ...]
) -> None:
    """Move ``fields`` to ``<field>Taken`` in every document that repeats another's key of
    ``model`` (its first field), all but the oldest (by ``_id``) of each key. One scan, at
    the upgrade only."""
    field = fields[0]
    keys = list(model.document["key"])
    groups = await coll.aggregate(
        [
            {"$match": {field: {"$type": "string"}}},
            {"$group": {"_id": {k: f"${k}" for k in keys}, "ids": {"$push": "$_id"}}},
            {"$match": {"ids.1": {"$exists": True}}},
        ]
    )
    async for group in groups:
        later = sorted(group["ids"])[1:]
        value = group["_id"][field]
        async for d in coll.find({"_id": {"$in": later}}, dict.fromkeys(fields, 1)):
            await coll.update_one(
                {"_id": d["_id"]},
                {
                    "$set": {f"{f}Taken": d[f] for f in fields if f in d},
                    "$unset": dict.fromkeys(fields, ""),
                },
            )
        log.warning(
            "%s: %d documents repeat %s %r: set aside to build index %s",
            coll.name,
            len(later),
            field,
            value,
            model.document["name"],
        )
