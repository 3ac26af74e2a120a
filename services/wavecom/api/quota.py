"""Rate limits that hold across every API process: GCRA kept in the database.

GCRA (the generic cell rate algorithm) is a token bucket held as one number, the theoretical
arrival time ``tat``: with ``interval = 1 / rate`` and ``tolerance = burst * interval``, a
request of cost ``c`` conforms when ``max(tat, now) + c * interval - now <= tolerance``, and
then ``tat`` moves to that sum. The bucket is full when ``tat <= now``.

Each bucket is one document ``{_id: bucket, seq, tat}``. Moving it on is a compare-and-set:
an update conditional on the ``seq`` this process last saw, atomic on MongoDB and FerretDB v2.
The process whose update matches wins; a loser reads the newer state and decides again. A
process remembers the state it wrote, so on the usual path a charge is a single update.
Charges that arrive together in one process are decided together and written as one state
(group commit), so one key's throughput does not depend on the database's latency.

Leases: a write that charges a bucket also takes a lease of up to ``LEASE_S`` (0.1 s) of the
key's rate, at most a tenth of its burst, when the bucket has that much to spare; the process
then charges requests against its lease in memory, with no database write, until the lease is
spent or ``LEASE_TTL_S`` (1 s) old; requests that queued while that write was under way are
charged against the lease it took before anything is written again. So a key sending 50
requests a second at the default 1,000/s costs about one write a second instead of fifty.
The bound, across processes: nothing is admitted that the shared bucket did not give (a lease
is charged before any of it is spent), and each process may hold at most one lease unspent,
so a key's requests can be refused early by at most ``processes x lease`` tokens, for at most
``LEASE_TTL_S``. A limit under 10/s gets no lease (every charge is exact, as before).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from wavecom.core.errors import StoreUnavailable
from wavecom.core.tenants import RateLimit
from wavecom.store import Store

log = logging.getLogger("wavecom.api.quota")

_MAX_ROUNDS = 100
LEASE_S = 0.1  # a lease holds at most this much of the key's rate...
LEASE_BURST_SHARE = 0.1  # ...and at most this share of its burst
LEASE_TTL_S = 1.0  # what a lease has not spent by then is dropped


@dataclass(frozen=True)
class Decision:
    """The answer to one charge, and what the RateLimit-* headers say."""

    allowed: bool
    limit: int  # the bucket's size
    remaining: int  # whole tokens left after this request
    reset_s: float  # until the bucket is full again
    retry_after_s: float = 0.0  # until this request would conform (0 when allowed)


@dataclass
class _Charge:
    cost: int
    future: asyncio.Future[Decision]


@dataclass
class _Lease:
    """Tokens this process took from the shared bucket ahead of its requests."""

    tokens: int
    tat: float  # the shared bucket's tat right after the lease was taken
    expires: float  # monotonic


def lease_size(limit: RateLimit) -> int:
    """Tokens one lease takes: 0.1 s of the rate, at most a tenth of the burst (0: exact)."""
    return int(min(limit.per_second * LEASE_S, limit.burst * LEASE_BURST_SHARE))


class Quota:
    """Per-bucket (per API key) GCRA state in the ``quotas`` collection."""

    def __init__(self, store: Store) -> None:
        self.quotas = store.quotas
        self._head: dict[str, tuple[int, float]] = {}  # bucket -> the last seq and tat seen
        self._pending: dict[str, list[_Charge]] = {}
        self._limits: dict[str, RateLimit] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._leases: dict[str, _Lease] = {}

    async def charge(self, bucket: str, cost: int, limit: RateLimit) -> Decision:
        """Take ``cost`` tokens from ``bucket`` if they are there; never partially."""
        if (leased := self._from_lease(bucket, cost, limit)) is not None:
            return leased
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(bucket, []).append(_Charge(cost, future))
        self._limits[bucket] = limit
        if bucket not in self._draining:
            self._draining[bucket] = asyncio.create_task(self._drain(bucket))
        return await future

    def _from_lease(self, bucket: str, cost: int, limit: RateLimit) -> Decision | None:
        """The charge answered from this process's lease of ``bucket``, if it covers it."""
        lease = self._leases.get(bucket)
        if lease is None or lease.tokens < cost or time.monotonic() >= lease.expires:
            return None
        lease.tokens -= cost
        return _leased(lease, limit)

    async def close(self) -> None:
        for task in self._draining.values():
            task.cancel()
        await asyncio.gather(*self._draining.values(), return_exceptions=True)

    async def _drain(self, bucket: str) -> None:
        try:
            while charges := self._pending.pop(bucket, None):
                # charges that arrived while the last write was under way: the lease it
                # took answers them first (a commit drops what is left of it, so committing
                # them at once would waste a whole lease per write when the database is slow)
                limit = self._limits[bucket]
                live = [
                    c for c in charges if not c.future.done() and not self._answer(c, bucket, limit)
                ]
                if not live:
                    continue
                try:
                    await self._commit(bucket, live, limit)
                except Exception as exc:
                    if not isinstance(exc, StoreUnavailable):
                        log.exception("rate limit state of %s", bucket)
                        exc = StoreUnavailable(f"rate limit state unavailable: {exc}")
                    for c in live:
                        if not c.future.done():
                            c.future.set_exception(exc)
        finally:
            del self._draining[bucket]

    def _answer(self, charge: _Charge, bucket: str, limit: RateLimit) -> bool:
        """Answer ``charge`` from the lease; False if the lease does not cover it."""
        decision = self._from_lease(bucket, charge.cost, limit)
        if decision is None:
            return False
        charge.future.set_result(decision)
        return True

    async def _commit(self, bucket: str, charges: list[_Charge], limit: RateLimit) -> None:
        interval = 1.0 / limit.per_second
        tolerance = limit.burst * interval
        seq, tat = self._head.get(bucket) or await self._read(bucket)
        self._leases.pop(bucket, None)  # what is left of it stays unspent (the bound above)
        leased = 0
        for _ in range(_MAX_ROUNDS):
            now = time.time()
            new_tat = tat
            decisions: list[Decision] = []
            for c in charges:
                base = max(new_tat, now)
                after = base + c.cost * interval
                if after - now <= tolerance + 1e-9:
                    new_tat = after
                    decisions.append(
                        Decision(
                            True,
                            limit.burst,
                            _tokens(tolerance - (after - now), interval),
                            after - now,
                        )
                    )
                else:
                    decisions.append(
                        Decision(
                            False,
                            limit.burst,
                            _tokens(tolerance - (base - now), interval),
                            base - now,
                            after - tolerance - now,
                        )
                    )
            if new_tat == tat:
                # nothing conforms: the stored tat can only be later than the one remembered,
                # so the refusal stands without a read
                break
            size = lease_size(limit)
            leased = 0
            if size and max(new_tat, now) + size * interval - now <= tolerance + 1e-9:
                leased, new_tat = size, max(new_tat, now) + size * interval
            if await self._swap(bucket, seq, new_tat):
                seq, tat = seq + 1, new_tat
                self._head[bucket] = (seq, tat)
                if leased:
                    self._leases[bucket] = _Lease(leased, tat, time.monotonic() + LEASE_TTL_S)
                break
            seq, tat = await self._read(bucket)  # another process moved it: decide again
        else:
            raise StoreUnavailable(f"rate limit state of {bucket} is too contended")
        for c, d in zip(charges, decisions, strict=True):
            if not c.future.done():
                c.future.set_result(d)

    async def _swap(self, bucket: str, seq: int, tat: float) -> bool:
        """Move the bucket from state ``seq`` to ``seq + 1``; False if it was not at ``seq``."""
        return await self.quotas.swap(bucket, seq, tat)

    async def _read(self, bucket: str) -> tuple[int, float]:
        """The stored state (``(0, 0.0)`` for a bucket never charged)."""
        state = await self.quotas.read(bucket)
        self._head[bucket] = state
        return state


def _leased(lease: _Lease, limit: RateLimit) -> Decision:
    """A charge answered from the lease: what the shared bucket had then, plus the lease."""
    interval = 1.0 / limit.per_second
    ahead = max(0.0, lease.tat - time.time())
    remaining = _tokens(limit.burst * interval - ahead, interval) + lease.tokens
    return Decision(True, limit.burst, remaining, ahead)


def _tokens(seconds: float, interval: float) -> int:
    return max(0, math.floor(seconds / interval + 1e-9))
