"""Circuit breaker states the workers report, so the API can show every provider's health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from wavecom.store.documents import Doc, utcnow

_WORST = {"closed": 0, "half-open": 1, "open": 2}


class Breakers:
    """The ``providers`` collection: one document per (provider, worker process)."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def report(self, instance: str, channel: str, states: dict[str, str]) -> None:
        """One worker's view of its providers' circuit breakers, in one round trip."""
        now = utcnow()
        ops = [
            UpdateOne(
                {"_id": f"{provider}/{instance}"},
                {
                    "$set": {
                        "provider": provider,
                        "channel": channel,
                        "state": state,
                        "updatedAt": now,
                    }
                },
                upsert=True,
            )
            for provider, state in states.items()
        ]
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def states(self, fresh_s: float = 15.0) -> dict[str, dict[str, Any]]:
        """Per provider: its channel and the worst breaker state any live worker reports."""
        since = utcnow() - timedelta(seconds=fresh_s)
        out: dict[str, dict[str, Any]] = {}
        async for d in self.collection.find({"updatedAt": {"$gte": since}}):
            seen = out.setdefault(
                d["provider"], {"channel": d["channel"], "state": "closed", "workers": 0}
            )
            seen["workers"] += 1
            if _WORST.get(d["state"], 0) > _WORST.get(seen["state"], 0):
                seen["state"] = d["state"]
        return out
