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
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.errors import StoreUnavailable
from wavecom.store import Store
from wavecom.tenants import RateLimit

log = logging.getLogger("wavecom.api.quota")

_MAX_ROUNDS = 100


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


class Quota:
    """Per-bucket (per API key) GCRA state in the ``quotas`` collection."""

    def __init__(self, store: Store) -> None:
        self.collection = store.quotas
        self._head: dict[str, tuple[int, float]] = {}  # bucket -> the last seq and tat seen
        self._pending: dict[str, list[_Charge]] = {}
        self._limits: dict[str, RateLimit] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def charge(self, bucket: str, cost: int, limit: RateLimit) -> Decision:
        """Take ``cost`` tokens from ``bucket`` if they are there; never partially."""
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(bucket, []).append(_Charge(cost, future))
        self._limits[bucket] = limit
        if bucket not in self._draining:
            self._draining[bucket] = asyncio.create_task(self._drain(bucket))
        return await future

    async def close(self) -> None:
        for task in self._draining.values():
            task.cancel()
        await asyncio.gather(*self._draining.values(), return_exceptions=True)

    async def _drain(self, bucket: str) -> None:
        try:
            while charges := self._pending.pop(bucket, None):
                live = [c for c in charges if not c.future.done()]
                if not live:
                    continue
                try:
                    await self._commit(bucket, live, self._limits[bucket])
                except Exception as exc:
                    if not isinstance(exc, StoreUnavailable):
                        log.exception("rate limit state of %s", bucket)
                        exc = StoreUnavailable(f"rate limit state unavailable: {exc}")
                    for c in live:
                        if not c.future.done():
                            c.future.set_exception(exc)
        finally:
            del self._draining[bucket]

    async def _commit(self, bucket: str, charges: list[_Charge], limit: RateLimit) -> None:
        interval = 1.0 / limit.per_second
        tolerance = limit.burst * interval
        seq, tat = self._head.get(bucket) or await self._read(bucket)
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
            if await self._swap(bucket, seq, new_tat):
                seq, tat = seq + 1, new_tat
                self._head[bucket] = (seq, tat)
                break
            seq, tat = await self._read(bucket)  # another process moved it: decide again
        else:
            raise StoreUnavailable(f"rate limit state of {bucket} is too contended")
        for c, d in zip(charges, decisions, strict=True):
            if not c.future.done():
                c.future.set_result(d)

    async def _swap(self, bucket: str, seq: int, tat: float) -> bool:
        """Move the bucket from state ``seq`` to ``seq + 1``; False if it was not at ``seq``."""
        try:
            if seq == 0:
                await self.collection.insert_one({"_id": bucket, "seq": 1, "tat": tat})
                return True
            result = await self.collection.update_one(
                {"_id": bucket, "seq": seq}, {"$set": {"seq": seq + 1, "tat": tat}}
            )
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record the rate limit: {exc}") from exc
        return result.matched_count == 1

    async def _read(self, bucket: str) -> tuple[int, float]:
        """The stored state (``(0, 0.0)`` for a bucket never charged)."""
        try:
            doc = await self.collection.find_one({"_id": bucket})
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the rate limit: {exc}") from exc
        state = (0, 0.0) if doc is None else (int(doc["seq"]), float(doc["tat"]))
        self._head[bucket] = state
        return state


def _tokens(seconds: float, interval: float) -> int:
    return max(0, math.floor(seconds / interval + 1e-9))
