"""Batched writes every part of the store uses: chunked, and errors mapped to StoreUnavailable."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc

# pymongo sends a bulk write as one command; keeping commands moderate bounds the work one
# command holds on the server
CHUNK = 500

DUPLICATE_KEY = 11000

log = logging.getLogger("wavecom.store.writes")


async def bulk(coll: AsyncCollection[Doc], ops: Sequence[UpdateOne | InsertOne[Doc]]) -> int:
    """Apply ``ops`` unordered, a chunk per round trip; return how many documents matched."""
    matched = 0
    try:
        for i in range(0, len(ops), CHUNK):
            result = await coll.bulk_write(list(ops[i : i + CHUNK]), ordered=False)
            matched += result.matched_count
    except PyMongoError as exc:
        raise StoreUnavailable(f"bulk write to {coll.name} failed: {exc}") from exc
    return matched


async def insert_all(coll: AsyncCollection[Doc], docs: Sequence[Doc]) -> None:
    """Insert ``docs`` unordered, a chunk per round trip."""
    try:
        for i in range(0, len(docs), CHUNK):
            await coll.insert_many(docs[i : i + CHUNK], ordered=False)
    except PyMongoError as exc:
        raise StoreUnavailable(f"could not write to {coll.name}: {exc}") from exc


async def bulk_unless_taken(
    coll: AsyncCollection[Doc], ops: Sequence[UpdateOne], fields: tuple[str, ...], index: str
) -> int:
    """:func:`bulk`, except that an update refused because the values it sets in ``fields``
    are taken under the unique ``index`` is applied again with each of them kept in
    ``<field>Taken`` instead (logged). For the outcomes: a provider that hands one message id
    out twice must not leave a sent notification PROCESSING, to be retaken and sent again."""
    matched = 0
    for i in range(0, len(ops), CHUNK):
        chunk = list(ops[i : i + CHUNK])
        try:
            matched += (await coll.bulk_write(chunk, ordered=False)).matched_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(
                e.get("code") != DUPLICATE_KEY or index not in str(e.get("errmsg", ""))
                for e in errors
            ):
                raise StoreUnavailable(f"bulk write to {coll.name} failed: {exc}") from exc
            matched += int(exc.details.get("nMatched", 0))
            again = [_moved_aside(chunk[e["index"]], fields) for e in errors]
            log.error("%d updates of %s set a %s already taken", len(again), coll.name, fields[0])
            matched += await bulk(coll, again)
        except PyMongoError as exc:
            raise StoreUnavailable(f"bulk write to {coll.name} failed: {exc}") from exc
    return matched


def _moved_aside(op: UpdateOne, fields: tuple[str, ...]) -> UpdateOne:
    doc: Doc = op._doc  # type: ignore[assignment]  # pymongo keeps the update document here
    update = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items()}
    setting = update.get("$set", {})
    for field in fields:
        if field in setting:
            setting[f"{field}Taken"] = setting.pop(field)
    return UpdateOne(op._filter, update)
