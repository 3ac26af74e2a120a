"""A batch's outcomes stored as they arrive, not once the whole batch is done (the API's twin
is intake's group commit, ``wavecom.api.intake``).

A worker lost after a provider accepted a send and before its outcome was stored leaves the
round to be retaken, and a provider that does not honour idempotency keys then sends it again.
Storing each outcome right after its answer shrinks that window from a batch's whole delivery
(seconds, behind a slow provider or a send-rate cap) to one database write: one bulk write at a
time, carrying every outcome that arrived while the previous one was being written.

A write is one database command whatever it carries: the batch's outcomes are counted by one
tally, recorded with the batch's claims and settled once its last outcome is stored (the
counters show a batch's outcomes together, up to the batch's delivery time after the first;
``wavecom.store.counters``). Until 2026-12-07 each write recorded a tally of its own first, and
its settle followed. A batch's answers come back spread over the providers' latency, so a
batch of five written as it answers made three or four writes.
Told how many outcomes to expect, a write waits for the rest of its batch up to ``linger_s``
(``OUTCOME_LINGER_MS``, 20 ms) after the first: the window above grows by at most that, and a
batch whose answers arrive together is one write.

Traces: each outcome has an ``outcome.write`` span in its message's trace, from its answer to
its write; each bulk write is an ``outcomes.write`` span of its own linking to those (the same
shape as intake's group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opentelemetry.trace import Span

from wavecom.core import telemetry
from wavecom.core.errors import DependencyUnavailable
from wavecom.store.counters import Tally
from wavecom.store.rounds import Outcome, Rounds

log = logging.getLogger("wavecom.outcome_writes")


class OutcomeWriter:
    """Group-commits one batch's outcomes under the batch's claim ``token``."""

    def __init__(
        self,
        rounds: Rounds,
        token: str,
        *,
        expected: int = 0,
        linger_s: float = 0.0,
        tally: Tally | None = None,
    ) -> None:
        """``expected``: how many outcomes the batch will add; a write waits up to
        ``linger_s`` for those not added yet (0: writes start at once). ``tally``: the
        outcomes' tally, recorded with the batch's claims, settled by :meth:`close` (without
        it, each write records and settles one of its own)."""
        self.rounds = rounds
        self.token = token
        self.linger_s = linger_s
        self.tally = tally
        self._stored: set[str] = set()
        self._outstanding = expected
        self._all_added = asyncio.Event()
        self._pending: list[tuple[Outcome, Span]] = []
        self._writing: asyncio.Task[None] | None = None

    def add(self, outcome: Outcome) -> None:
        """Queue an outcome; a write starts at once unless one is under way."""
        span = telemetry.start_span(
            "outcome.write", attributes={"wavecom.status": outcome.status.value}
        )
        self._pending.append((outcome, span))
        self._outstanding -= 1
        if self._outstanding <= 0:
            self._all_added.set()
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._drain())

    async def close(self) -> None:
        """Return once every outcome added so far is stored, and the tally given is settled
        (the counters count them soon: ``wavecom.store.settling``)."""
        if self._writing is not None:
            await self._writing
        if self.tally is not None:
            await self.rounds.settle_outcomes(self.tally, self._stored)

    async def _drain(self) -> None:
        if self.linger_s > 0 and not self._all_added.is_set():
            # the rest of the batch, for a little while: one write instead of several
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_added.wait(), self.linger_s)
        while self._pending:
            group, self._pending = self._pending, []
            if not telemetry.enabled():
                await self._store([o for o, _ in group])
                continue
            write = telemetry.start_root(
                "outcomes.write",
                [link for _, s in group if (link := telemetry.link_to(s)) is not None],
                attributes={"wavecom.outcomes": len(group)},
            )
            error: BaseException | None = None
            try:
                with telemetry.current(write):
                    await self._store([o for o, _ in group])
            except BaseException as exc:
                error = exc
                raise
            finally:
                for _, s in group:
                    telemetry.end(s, error)
                telemetry.end(write, error)

    async def _store(self, group: list[Outcome]) -> None:
        """The sends happened: keep trying to record them rather than redeliver (and resend)."""
        delay = 0.2
        while True:
            try:
                self._stored |= await self.rounds.record_outcomes(
                    group, self.token, tally=self.tally
                )
                return
            except DependencyUnavailable as exc:
                log.warning(
                    "storing %d outcomes failed (%s); retrying in %.1fs", len(group), exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
