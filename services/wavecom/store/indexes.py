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
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from wavecom.core.constants import API_KEYS, NOTIFICATIONS, OUTBOX, PROVIDERS, RECEIPTS, SCHEDULE
from wavecom.store.callbacks import (
    BY_ENDPOINT_DUE,
    BY_NOTIFICATION,
    BY_TENANT_STATE,
    CALLBACKS,
    ENDPOINTS,
)
from wavecom.store.documents import Doc
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
BY_REFERENCE = "tenant_reference"
BY_PROVIDER_MESSAGE = "provider_message"


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
        # creates racing with one reference)
        IndexModel(
            [("tenantId", ASCENDING), ("reference", ASCENDING)],
            name=BY_REFERENCE,
            unique=True,
            partialFilterExpression={"reference": {"$type": "string"}},
        ),
        # ?providerMessageId=, and the provider receipts that match on (message id, account):
        # unique per account, the arbiter of which notification a receipt moves. Only sent
        # notifications have an id, so only they are in it. It replaced the index on the id
        # alone rather than adding one: the hot path (every outcome) writes as many index
        # terms as before (#25)
        IndexModel(
            [("providerMessageId", ASCENDING), ("provider", ASCENDING)],
            name=BY_PROVIDER_MESSAGE,
            unique=True,
            partialFilterExpression={"providerMessageId": {"$type": "string"}},
        ),
    ],
    # the receipts sweep, oldest first (store/receipts.py): a handful at most, held for seconds
    RECEIPTS: [IndexModel([("receivedAt", ASCENDING)], name="received")],
    SCHEDULE: [IndexModel([("dueAt", ASCENDING)], name="due")],
    OUTBOX: [IndexModel([("dueAt", ASCENDING)], name="due")],
    PROVIDERS: [IndexModel([("updatedAt", ASCENDING)], name="fresh")],
    API_KEYS: [IndexModel([("tenantId", ASCENDING), ("createdAt", ASCENDING)], name="by_tenant")],
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
# unique indexes an upgrade made unique over a field older documents may repeat: to build one,
# every repeat of its key but the oldest document's has the field moved to ``<field>Taken``
# (what store/writes.py's bulk_unless_taken does from then on)
_SET_ASIDE = {BY_PROVIDER_MESSAGE: "providerMessageId"}


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
        try:
            await db[collection].create_indexes(wanted)
        except OperationFailure as exc:
            if exc.code not in (*_INDEX_OPTIONS_CONFLICT, _DUPLICATE_KEY):
                raise
            for model in wanted:
                await _rebuild(db, collection, model)


async def _rebuild(db: AsyncDatabase[Doc], collection: str, model: IndexModel) -> None:
    name = model.document["name"]
    try:
        await db[collection].create_indexes([model])
        return
    except OperationFailure as exc:
        if exc.code in _INDEX_OPTIONS_CONFLICT:
            log.warning("index %s.%s changed: building it again", collection, name)
            await db[collection].drop_index(name)
        elif exc.code != _DUPLICATE_KEY or name not in _SET_ASIDE:
            raise
    if name in _SET_ASIDE:
        await _set_aside_repeats(db[collection], model, _SET_ASIDE[name])
    await db[collection].create_indexes([model])


async def _set_aside_repeats(coll: AsyncCollection[Doc], model: IndexModel, field: str) -> None:
    """Move ``field`` to ``<field>Taken`` in every document that repeats another's key of
    ``model``, all but the oldest (by ``_id``) of each key. One scan, at the upgrade only."""
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
        await coll.update_many(
            {"_id": {"$in": later}}, {"$set": {f"{field}Taken": value}, "$unset": {field: ""}}
        )
        log.warning(
            "%s: %d documents repeat %s %r: set aside to build index %s",
            coll.name,
            len(later),
            field,
            value,
            model.document["name"],
        )
