"""Rate limits that hold across every API process: GCRA kept in the database.

GCRA (the generic cell rate algorithm) is a token bucket held as one number, the theoretical
arrival time ``tat``: with ``interval = 1 / rate`` and ``tolerance = burst * interval``, a
request of cost ``c`` conforms when ``max(tat, now) + c * interval - now <= tolerance``, and
then ``tat`` moves to that sum. The bucket is full when ``tat <= now``.

Every API process must see every other's charges, and FerretDB v1 has no atomic update (it reads,
modifies and writes). What it does have is the unique ``_id``. So each state of a bucket is its
own document, ``<bucket>:<seq>``, and moving from state ``n`` to ``n + 1`` is an insert of
``n + 1``: exactly one process wins it; a loser reads the newer states and decides again. A
process remembers the newest state it saw, so on the usual path a charge is a single insert.
Charges that arrive together in one process are decided together and written as one state
(group commit), so one key's throughput does not depend on the database's latency.

Old states are deleted in the background: only states older than ``keep_s`` and not among the
newest 64; a process trusts a remembered state for ``trust_s`` < ``keep_s`` only, so a state it
builds on can never have been deleted under it (clocks of the API hosts must agree within
``keep_s - trust_s``).
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

_KEEP_NEWEST = 64
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

    def __init__(self, store: Store, *, trust_s: float = 5.0, keep_s: float = 20.0) -> None:
        if trust_s >= keep_s:
            raise ValueError("trust_s must be shorter than keep_s")
        self.collection = store.quotas
        self.trust_s = trust_s
        self.keep_s = keep_s
        self._head: dict[str, tuple[int, float, float]] = {}  # bucket -> seq, tat, seen at
        self._pending: dict[str, list[_Charge]] = {}
        self._limits: dict[str, RateLimit] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._cleanups: set[asyncio.Task[None]] = set()

    async def charge(self, bucket: str, cost: int, limit: RateLimit) -> Decision:
        """Take ``cost`` tokens from ``bucket`` if they are there; never partially."""
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(bucket, []).append(_Charge(cost, future))
        self._limits[bucket] = limit
        if bucket not in self._draining:
            self._draining[bucket] = asyncio.create_task(self._drain(bucket))
        return await future

    async def close(self) -> None:
        for task in [*self._draining.values(), *self._cleanups]:
            task.cancel()
        await asyncio.gather(*self._draining.values(), *self._cleanups, return_exceptions=True)

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
        seq, tat = await self._current(bucket)
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
            if new_tat == tat:  # nothing conforms: nothing to write
                break
            try:
                await self._insert(bucket, seq + 1, new_tat, now)
            except DuplicateKeyError:
                seq, tat = await self._forward(bucket, seq, tat)
                continue
            seq, tat = seq + 1, new_tat
            self._head[bucket] = (seq, tat, time.monotonic())
            if seq % _KEEP_NEWEST == 0:
                self._cleanup(bucket, seq)
            break
        else:
            raise StoreUnavailable(f"rate limit state of {bucket} is too contended")
        for c, d in zip(charges, decisions, strict=True):
            if not c.future.done():
                c.future.set_result(d)

    async def _insert(self, bucket: str, seq: int, tat: float, now: float) -> None:
        try:
            await self.collection.insert_one(
                {"_id": f"{bucket}:{seq}", "bucket": bucket, "seq": seq, "tat": tat, "t": now}
            )
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not record the rate limit: {exc}") from exc

    async def _current(self, bucket: str) -> tuple[int, float]:
        """The newest state this process may build on (remembered, or read)."""
        head = self._head.get(bucket)
        if head is not None and time.monotonic() - head[2] < self.trust_s:
            return head[0], head[1]
        try:
            newest = await self.collection.find_one({"bucket": bucket}, sort=[("seq", -1)])
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the rate limit: {exc}") from exc
        seq, tat = (0, 0.0) if newest is None else (int(newest["seq"]), float(newest["tat"]))
        self._head[bucket] = (seq, tat, time.monotonic())
        return seq, tat

    async def _forward(self, bucket: str, seq: int, tat: float) -> tuple[int, float]:
        """Another process wrote state ``seq + 1``: read forward to the newest."""
        try:
            while doc := await self.collection.find_one({"_id": f"{bucket}:{seq + 1}"}):
                seq, tat = seq + 1, float(doc["tat"])
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read the rate limit: {exc}") from exc
        self._head[bucket] = (seq, tat, time.monotonic())
        return seq, tat

    def _cleanup(self, bucket: str, seq: int) -> None:
        async def delete() -> None:
            try:
                await self.collection.delete_many(
                    {
                        "bucket": bucket,
                        "seq": {"$lte": seq - _KEEP_NEWEST},
                        "t": {"$lt": time.time() - self.keep_s},
                    }
                )
            except PyMongoError as exc:  # only housekeeping: the next cleanup catches up
                log.warning("rate limit cleanup of %s: %s", bucket, exc)

        task = asyncio.create_task(delete())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)


def _tokens(seconds: float, interval: float) -> int:
    return max(0, math.floor(seconds / interval + 1e-9))
