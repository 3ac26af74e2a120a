"""What intake writes after its answers, gathered across commits (the worker's twin is
``outcome_writes``: what it writes after each provider's answer).

A commit's counters and the removal of its outbox entry are records about notifications that
are stored and queued already (a stale outbox entry only makes the relay publish a copy the
claims drop), so they are written after the answer. Written per commit they were database
commands for every commit, and at low concurrency a commit carries one or two notifications:
those commands then cost the database more than the notification itself (``make
bench-writes``). Here everything answered within one ``linger`` (``SETTLE_LINGER_MS``, 100
ms; the stats lag the documents by up to that much) shares one counters update and one outbox
delete, at any load: at 50 requests/s, one pair of commands for five commits, not five pairs.

Each commit recorded its counter changes (a ``Tally``) before storing anything; here they
are settled: one conditional update per tenant for everything answered within the linger. A
process that dies within that window leaves its tallies pending, and the counters' repair
settles them from the documents within a minute (``wavecom.store.counters``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from wavecom.store import Doc, Store
from wavecom.store.counters import Tally

log = logging.getLogger("wavecom.intake_writes")

LINGER_S = 0.1
RETRIES_S = (0.0, 0.2, 1.0)


class IntakeWriter:
    """Counters and outbox removals of answered commits, written together."""

    def __init__(self, store: Store, linger_s: float = LINGER_S) -> None:
        self.store = store
        self.linger_s = linger_s
        self._tallies: list[tuple[Tally, set[str]]] = []
        self._entries: list[str] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, docs: Sequence[Doc], entry: str | None, tally: Tally) -> None:
        """Settle ``tally`` with ``docs`` (answered: stored) and forget their outbox ``entry``
        (None: keep it, the relay publishes what the broker did not confirm)."""
        self._tallies.append((tally, {str(d["_id"]) for d in docs}))
        if entry is not None:
            self._entries.append(entry)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    async def close(self) -> None:
        """Return once everything added so far is written (or given up on)."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    async def _drain(self) -> None:
        while self._tallies or self._entries:
            await asyncio.sleep(self.linger_s)  # gather what else is answered meanwhile
            tallies, self._tallies = self._tallies, []
            entries, self._entries = self._entries, []
            await asyncio.gather(
                self.store.counters.settle_many(tallies), self.store.outbox.forget_many(entries)
            )
