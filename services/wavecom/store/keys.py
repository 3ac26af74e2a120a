"""API keys: one document per key (its tenant, scopes and the hash of its secret)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc


class ApiKeys:
    """The ``apikeys`` collection (:mod:`wavecom.core.keys` gives it meaning)."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def add(self, doc: Doc) -> None:
        """Store a new key's document."""
        try:
            await self.collection.insert_one(doc)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not store the key: {exc}") from exc

    async def get(self, key_id: str, tenant: str | None = None) -> Doc | None:
        """The key's document (only if it is ``tenant``'s, when given), or None."""
        query: Doc = {"_id": key_id}
        if tenant is not None:
            query["tenantId"] = tenant
        try:
            return await self.collection.find_one(query)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not check the key: {exc}") from exc

    async def of(self, tenant: str | None = None) -> list[Doc]:
        """Every key's document (``tenant``'s only, when given)."""
        query = {} if tenant is None else {"tenantId": tenant}
        return await self.collection.find(query).to_list(None)

    async def revoke(self, key_id: str, at: datetime) -> None:
        """Mark the key revoked at ``at``."""
        await self.collection.update_one({"_id": key_id}, {"$set": {"revokedAt": at}})
