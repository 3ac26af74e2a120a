"""Per-tenant settings: one document per tenant that set any (:mod:`wavecom.core.tenants`)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from wavecom.store.documents import Doc, utcnow
from wavecom.store.indexes import NO_SHARED_FALLBACK


class TenantSettings:
    """The ``tenants`` collection: rate limits, default TTLs, the shared-fallback choice."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def get(self, tenant: str, *fields: str) -> Doc | None:
        """The tenant's document (only ``fields``, when named), or None."""
        projection = dict.fromkeys(fields, 1) if fields else None
        return await self.collection.find_one({"_id": tenant}, projection)

    async def set(self, tenant: str, values: dict[str, Any], unset: tuple[str, ...] = ()) -> None:
        """Set ``values`` (and remove ``unset``) on the tenant's document, created if need be."""
        change: dict[str, Any] = {"$set": {**values, "updatedAt": utcnow()}}
        if unset:
            change["$unset"] = dict.fromkeys(unset, "")
        await self.collection.update_one({"_id": tenant}, change, upsert=True)

    async def with_default_ttls(self) -> list[Doc]:
        """The tenants with default TTLs: ``_id`` and ``defaultTtlSeconds``."""
        return await self.collection.find(
            {"defaultTtlSeconds": {"$exists": True}}, {"defaultTtlSeconds": 1}
        ).to_list(None)

    async def without_shared_fallback(self) -> list[str]:
        """The tenants that never fall back to shared provider accounts."""
        docs = await (
            self.collection.find({"sharedFallback": False}, {"_id": 1})
            .hint(NO_SHARED_FALLBACK)
            .to_list(None)
        )
        return [str(d["_id"]) for d in docs]

    async def all(self) -> list[Doc]:
        """Every tenant's document."""
        return await self.collection.find({}).to_list(None)
