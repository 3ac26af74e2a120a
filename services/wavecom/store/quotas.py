"""Rate-limit state: one GCRA document ``{_id: bucket, seq, tat}`` per bucket
(:mod:`wavecom.api.quota` decides; this reads and moves it)."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc


class Quotas:
    """The ``quotas`` collection."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def swap(self, bucket: str, seq: int, tat: float) -> bool:
        """Move the bucket from state ``seq`` to ``seq + 1`` with ``tat`` (compare-and-set;
        ``seq`` 0: a bucket never charged, created by a unique insert); False if it was not
        at ``seq``."""
        try:
            if seq == 0:
                await self.collection.insert_one({"_id": bucket, "seq": 1, "tat": tat})
                return True
            result = await self.collection.update_one(
                {"_id": bucket, "seq": seq}, {"$set": {"seq": seq + 1, "tat": tat}}
            )
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record the rate limit: {exc}") from exc
        return result.matched_count == 1

    async def read(self, bucket: str) -> tuple[int, float]:
        """The stored ``(seq, tat)`` (``(0, 0.0)`` for a bucket never charged)."""
        try:
            doc = await self.collection.find_one({"_id": bucket})
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the rate limit: {exc}") from exc
        return (0, 0.0) if doc is None else (int(doc["seq"]), float(doc["tat"]))
