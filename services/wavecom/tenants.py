"""Per-tenant settings: the rate limit of each of the tenant's API keys."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from wavecom.store import Store, utcnow


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` tokens, refilled at ``per_second``; a request costs one token
    per notification it carries (a batch of 300 costs 300), every other request one."""

    per_second: float
    burst: int

    def as_dict(self) -> dict[str, Any]:
        return {"perSecond": self.per_second, "burst": self.burst}

    @classmethod
    def of(cls, raw: dict[str, Any]) -> RateLimit:
        """From its stored form (``as_dict``)."""
        return cls(float(raw["perSecond"]), int(raw["burst"]))


class Tenants:
    """The ``tenants`` collection, read through a short cache (limits are not security state:
    a changed limit applies within ``cache_s``; a revoked key applies at once)."""

    def __init__(self, store: Store, default: RateLimit, cache_s: float = 5.0) -> None:
        self.collection = store.tenants
        self.default = default
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, RateLimit]] = {}
        self._reading: dict[str, asyncio.Task[RateLimit]] = {}

    async def limit(self, tenant: str) -> RateLimit:
        cached = self._cache.get(tenant)
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        # one read per tenant at a time, shared: when the entry expires under load, the
        # hundreds of requests in flight must not each read the same document
        reading = self._reading.get(tenant)
        if reading is None:
            reading = asyncio.create_task(self._read(tenant))
            self._reading[tenant] = reading
            reading.add_done_callback(lambda _: self._reading.pop(tenant, None))
        return await asyncio.shield(reading)

    async def _read(self, tenant: str) -> RateLimit:
        read_at = time.monotonic()
        doc = await self.collection.find_one({"_id": tenant})
        limit = self.default
        if doc is not None and doc.get("rateLimit"):
            limit = RateLimit.of(doc["rateLimit"])
        self._cache[tenant] = (read_at, limit)
        return limit

    async def set_limit(self, tenant: str, limit: RateLimit) -> None:
        if limit.per_second <= 0 or limit.burst < 1:
            raise ValueError("a rate limit needs perSecond > 0 and burst >= 1")
        await self.collection.update_one(
            {"_id": tenant},
            {"$set": {"rateLimit": limit.as_dict(), "updatedAt": utcnow()}},
            upsert=True,
        )
        self._cache.pop(tenant, None)

    async def configured(self) -> dict[str, RateLimit]:
        """Tenants with a limit of their own."""
        docs = await self.collection.find({}).to_list(None)
        return {d["_id"]: RateLimit.of(d["rateLimit"]) for d in docs if d.get("rateLimit")}
