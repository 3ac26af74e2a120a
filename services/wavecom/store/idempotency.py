"""``Idempotency-Key`` records: one per (tenant, key), ``_id`` ``"<tenant>:<key>"``
(:mod:`wavecom.api.idempotency` gives them meaning)."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc, utcnow


class IdempotencyKeys:
    """The ``idempotency`` collection."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def claim(self, record_id: str, fingerprint: str) -> bool:
        """Record the key as pending for the request ``fingerprint`` names (a unique insert);
        False if a record of that key exists already."""
        try:
            await self.collection.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "state": "pending",
                    "createdAt": utcnow(),
                }
            )
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record the idempotency key: {exc}") from exc
        return True

    async def complete(self, record_id: str, status: int, body: str) -> None:
        """Keep the response (its status and JSON body) the key answers from now on."""
        await self.collection.update_one(
            {"_id": record_id}, {"$set": {"state": "done", "status": status, "body": body}}
        )

    async def release(self, record_id: str) -> None:
        """Forget the key, so the client can retry with it."""
        await self.collection.delete_one({"_id": record_id})

    async def get(self, record_id: str) -> Doc | None:
        """The key's record, or None."""
        return await self.collection.find_one({"_id": record_id})
