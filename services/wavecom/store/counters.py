"""Per-tenant counters (the stats endpoint): one document per tenant, changed by ``$inc``.

``$inc`` is atomic on MongoDB and on FerretDB v2, so every process adds to the same document
and a reader needs one lookup. Counters are statistics, not the record (the reconcile ledger
counts the documents themselves): a failure to update them is logged, never raised, so it
cannot fail a request or a batch whose notifications are already stored and queued.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from wavecom.store.documents import Doc
from wavecom.store.writes import DUPLICATE_KEY

log = logging.getLogger("wavecom.store.counters")

Changes = dict[str, Counter[str]]  # tenant -> field -> delta, fields like "byStatus.SENT"


@dataclass(slots=True)
class TenantStats:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    by_priority: dict[str, int] = field(default_factory=dict)
    processing_ms_sum: int = 0
    processing_count: int = 0


class Counters:
    """The ``stats`` collection: ``{_id: tenant, total, byStatus: {...}, byType, ...}``."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def add(self, changes: Changes) -> None:
        """Apply every tenant's deltas in one round trip; never raises (see the module)."""
        ops = [
            UpdateOne({"_id": tenant}, {"$inc": nonzero}, upsert=True)
            for tenant, c in changes.items()
            if (nonzero := {k: v for k, v in c.items() if v})
        ]
        if not ops:
            return
        for _ in range(2):
            try:
                await self.collection.bulk_write(ops, ordered=False)
                return
            except BulkWriteError as exc:
                # two first upserts of one tenant raced: the loser's $inc was not applied
                errors = exc.details.get("writeErrors", [])
                if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                    log.exception("counters not updated: %s", changes)
                    return
                ops = [ops[e["index"]] for e in errors]
            except Exception:  # any driver or server error; see the module docstring
                log.exception("counters not updated: %s", changes)
                return
        log.error("counters not updated after a retry: %s", changes)

    async def of(self, tenant_id: str) -> TenantStats:
        """The tenant's counters."""
        d = await self.collection.find_one({"_id": tenant_id}) or {}

        def group(name: str) -> dict[str, int]:
            return {k: int(v) for k, v in (d.get(name) or {}).items()}

        return TenantStats(
            total=int(d.get("total", 0)),
            by_status=group("byStatus"),
            by_type=group("byType"),
            by_priority=group("byPriority"),
            processing_ms_sum=int(d.get("processingMsSum", 0)),
            processing_count=int(d.get("processingCount", 0)),
        )


def moved(changes: Changes, tenant: str, old: str, new: str) -> None:
    """Count one notification of ``tenant`` moving from status ``old`` to ``new``."""
    c = changes.setdefault(tenant, Counter())
    c[f"byStatus.{old}"] -= 1
    c[f"byStatus.{new}"] += 1
