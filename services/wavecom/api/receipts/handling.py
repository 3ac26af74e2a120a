"""A receipt applied: the store's conditional update, the metric, the status event.

Every receipt endpoint hands its verified receipt to :meth:`ReceiptHandler.take`; the API's
periodic sweep (:meth:`ReceiptHandler.sweep`) settles the held ones. A notification that moved
on is published on ``wavecom.events`` like every other status change (the live streams and the
tenants' callbacks read it there).
"""

from __future__ import annotations

import logging

from wavecom.core import metrics
from wavecom.core.events import EventPublisher, doc_event
from wavecom.store import Store
from wavecom.store.receipts import Applied, ProviderReceipt, Result

log = logging.getLogger("wavecom.receipts")


class ReceiptHandler:
    """Applies receipts for one API process."""

    def __init__(self, store: Store, events: EventPublisher, hold_s: float) -> None:
        self.store = store
        self.events = events
        self.hold_s = hold_s

    async def take(self, receipt: ProviderReceipt) -> Result:
        """Apply (or hold) one verified receipt; what it did."""
        applied = await self.store.receipts.apply(receipt)
        self._settled(receipt, applied)
        return applied.result

    async def sweep(self) -> int:
        """Apply the held receipts whose notification is now known, drop the expired ones;
        how many were settled."""
        settled = await self.store.receipts.sweep(self.hold_s)
        for receipt, applied in settled:
            self._settled(receipt, applied)
            if applied.result is Result.UNKNOWN:
                log.info(
                    "receipt %s for unknown message %s of %s dropped after %.0fs",
                    receipt.status,
                    receipt.message_id,
                    receipt.provider,
                    self.hold_s,
                )
        return len(settled)

    def _settled(self, receipt: ProviderReceipt, applied: Applied) -> None:
        metrics.RECEIPTS.labels(
            receipt.provider, receipt.status.value, receipt.code or "", applied.result.value
        ).inc()
        if applied.result is Result.APPLIED and applied.doc is not None:
            self.events.emit([doc_event(applied.doc)])
