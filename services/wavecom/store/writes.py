"""Batched writes every part of the store uses: chunked, and errors mapped to StoreUnavailable."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from wavecom.errors import StoreUnavailable
from wavecom.store.documents import Doc

# pymongo sends a bulk write as one command; keeping commands moderate bounds the work one
# command holds on the server
CHUNK = 500

DUPLICATE_KEY = 11000


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
