"""Counter tallies settled together, a little after their writes (a worker's claims and
outcomes).

Each claim and each outcome write records its tally before its documents and settles it after
(``wavecom.store.counters``). A settle is one database command whatever it carries, and a
worker at a trickle makes batches of one or two notifications, so its two settles per batch
were a third of its commands (``database_commands_total``). A settler gathers what is settled
within ``linger_s`` (``SETTLE_LINGER_MS``, 100 ms) into one ``settle_many``. It is a record
about documents that are written already: the counters show them up to that much later, and a
process that dies within the window leaves its tallies pending for the repair, as a settle
that failed does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from wavecom.store.counters import Counters, Tally

LINGER_S = 0.1


class Settler:
    """Settles the tallies added within one ``linger_s`` together."""

    def __init__(self, counters: Counters, linger_s: float = LINGER_S) -> None:
        self.counters = counters
        self.linger_s = linger_s
        self._settled: list[tuple[Tally, Collection[str]]] = []
        self._settling: asyncio.Task[None] | None = None

    def add(self, tally: Tally, done: Collection[str]) -> None:
        """Count the steps of ``tally`` whose notifications are in ``done``, soon."""
        self._settled.append((tally, done))
        if self._settling is None or self._settling.done():
            self._settling = asyncio.create_task(self._settle())

    async def close(self) -> None:
        """Return once everything added so far is settled (or left to the repair)."""
        while self._settling is not None and not self._settling.done():
            await self._settling

    async def _settle(self) -> None:
        while self._settled:
            await asyncio.sleep(self.linger_s)  # what else is settled meanwhile goes along
            settled, self._settled = self._settled, []
            await self.counters.settle_many(settled)  # never raises: the repair has the rest
