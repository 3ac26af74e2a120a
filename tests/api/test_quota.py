"""The database-backed rate limit (GCRA over unique inserts), and its two-process guarantee."""

from __future__ import annotations

import asyncio
import time

from wavecom.api.quota import Quota
from wavecom.store import Store
from wavecom.tenants import RateLimit

SLOW = RateLimit(per_second=1.0, burst=10)  # a refill too slow to matter within a test


async def test_a_full_bucket_allows_its_burst_then_refuses_with_retry_after(store: Store) -> None:
    quota = Quota(store)
    decisions = [await quota.charge("k1", 1, SLOW) for _ in range(12)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 2
    assert [d.remaining for d in decisions[:10]] == list(range(9, -1, -1))
    refused = decisions[-1]
    assert refused.limit == 10
    assert refused.remaining == 0
    assert 0.5 < refused.retry_after_s <= 1.0  # one token comes back per second
    assert 9.0 < refused.reset_s <= 10.0
    await quota.close()


async def test_a_charge_is_never_partial(store: Store) -> None:
    quota = Quota(store)
    assert (await quota.charge("k2", 7, SLOW)).allowed
    big = await quota.charge("k2", 5, SLOW)
    assert not big.allowed
    assert big.remaining == 3
    assert (await quota.charge("k2", 3, SLOW)).allowed
    await quota.close()


async def test_tokens_come_back_at_the_configured_rate(store: Store) -> None:
    quota = Quota(store)
    fast = RateLimit(per_second=20.0, burst=2)
    assert (await quota.charge("k3", 2, fast)).allowed
    refused = await quota.charge("k3", 2, fast)
    assert not refused.allowed
    deadline = time.monotonic() + 5
    while not (await quota.charge("k3", 2, fast)).allowed:
        assert time.monotonic() < deadline, "the bucket never refilled"
        await asyncio.sleep(0.02)  # the refill is what this waits for, bounded by the deadline
    await quota.close()


async def test_processes_sharing_the_database_share_the_bucket(store: Store) -> None:
    """Four Quota instances stand for four API processes (each its own memory), charging one
    key concurrently: together they never allow more than the burst."""
    quotas = [Quota(store) for _ in range(4)]
    limit = RateLimit(per_second=0.01, burst=50)
    decisions = await asyncio.gather(
        *(quotas[i % 4].charge("shared", 1, limit) for i in range(200))
    )
    assert sum(d.allowed for d in decisions) == 50
    # and each remembers the newest state: a later charge anywhere is refused
    for q in quotas:
        assert not (await q.charge("shared", 1, limit)).allowed
        await q.close()


async def test_buckets_are_independent(store: Store) -> None:
    quota = Quota(store)
    for _ in range(10):
        assert (await quota.charge("a", 1, SLOW)).allowed
    assert not (await quota.charge("a", 1, SLOW)).allowed
    assert (await quota.charge("b", 1, SLOW)).allowed
    await quota.close()


async def test_old_states_are_cleaned_up(store: Store) -> None:
    quota = Quota(store, trust_s=0.01, keep_s=0.02)
    many = RateLimit(per_second=1.0, burst=1000)
    for _ in range(200):
        await quota.charge("busy", 1, many)
    await quota.close()
    left = await store.quotas.count_documents({"bucket": "busy"})
    assert left < 200
    assert (await Quota(store).charge("busy", 1, many)).allowed  # the newest state survived
