"""Per-tenant settings: the rate limit of each of the tenant's API keys, whether the
tenant's notifications may fall back to shared provider accounts, and the default validity
(TTL) of its notifications per channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wavecom.core.cache import TtlCache
from wavecom.core.constants import Channel
from wavecom.store import Store
from wavecom.store.expiries import MAX_TTL_S


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
        self.settings = store.tenants
        self.default = default
        self.cache_s = cache_s
        self._cache: TtlCache[RateLimit] = TtlCache(self._read, cache_s)
        self._ttls: TtlCache[dict[Channel, int]] = TtlCache(self._read_ttls, cache_s)

    async def limit(self, tenant: str) -> RateLimit:
        return await self._cache.get(tenant)

    async def _read(self, tenant: str) -> RateLimit:
        doc = await self.settings.get(tenant)
        if doc is not None and doc.get("rateLimit"):
            return RateLimit.of(doc["rateLimit"])
        return self.default

    async def set_limit(self, tenant: str, limit: RateLimit) -> None:
        if limit.per_second <= 0 or limit.burst < 1:
            raise ValueError("a rate limit needs perSecond > 0 and burst >= 1")
        await self.settings.set(tenant, {"rateLimit": limit.as_dict()})
        self._cache.forget(tenant)

    async def default_ttls(self, tenant: str) -> dict[Channel, int]:
        """The tenant's default ``ttlSeconds`` per channel (a channel without one: none)."""
        return await self._ttls.get(tenant)

    async def _read_ttls(self, tenant: str) -> dict[Channel, int]:
        doc = await self.settings.get(tenant, "defaultTtlSeconds")
        raw = (doc or {}).get("defaultTtlSeconds") or {}
        return {Channel(k): int(v) for k, v in raw.items() if k in Channel.__members__ and v}

    async def set_default_ttl(self, tenant: str, channel: Channel, seconds: int | None) -> None:
        """Give the tenant's notifications of ``channel`` this validity when a create names
        none (``None``: no default). API processes apply a change within ``cache_s``."""
        if seconds is not None and not 1 <= seconds <= MAX_TTL_S:
            raise ValueError(f"a default TTL is 1 to {MAX_TTL_S} seconds")
        field = f"defaultTtlSeconds.{channel.value}"
        if seconds is not None:
            await self.settings.set(tenant, {field: seconds})
        else:
            await self.settings.set(tenant, {}, unset=(field,))
        self._ttls.forget(tenant)

    async def configured_ttls(self) -> dict[str, dict[Channel, int]]:
        """Tenants with default TTLs of their own."""
        docs = await self.settings.with_default_ttls()
        found = {
            str(d["_id"]): {
                Channel(k): int(v)
                for k, v in (d.get("defaultTtlSeconds") or {}).items()
                if k in Channel.__members__ and v
            }
            for d in docs
        }
        return {t: ttls for t, ttls in found.items() if ttls}

    async def set_shared_fallback(self, tenant: str, allowed: bool) -> None:
        """Whether the tenant's notifications may go to shared accounts (the default) or only
        to accounts reserved for it (``tenants:`` of a NotificationProvider): with none of
        those usable they wait in the queue, never reaching a shared account. The workers
        follow a change within PROVIDERS_POLL_S."""
        await self.settings.set(tenant, {"sharedFallback": allowed})

    async def without_shared_fallback(self) -> frozenset[str]:
        """The tenants whose notifications never go to a shared account."""
        return frozenset(await self.settings.without_shared_fallback())

    async def configured(self) -> dict[str, RateLimit]:
        """Tenants with a limit of their own."""
        docs = await self.settings.all()
        return {d["_id"]: RateLimit.of(d["rateLimit"]) for d in docs if d.get("rateLimit")}
