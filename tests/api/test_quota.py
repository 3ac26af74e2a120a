"""The database-backed rate limit (GCRA over unique inserts), and its two-process guarantee."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.services import free_port
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.api.quota import Quota, lease_size
from wavecom.core.settings import Settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Store

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

    async def refilled() -> bool:
        return (await quota.charge("k3", 2, fast)).allowed

    await wait_for(refilled, within=5, interval=0.02, what="the bucket to refill")
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


async def test_a_bucket_is_one_document(store: Store) -> None:
    quota = Quota(store)
    many = RateLimit(per_second=1.0, burst=1000)
    for _ in range(50):
        await quota.charge("busy", 1, many)
    await quota.close()
    assert await store.quotas.collection.count_documents({}) == 1
    state = await store.quotas.collection.find_one({"_id": "busy"})
    assert state is not None
    assert state["seq"] == 50
    assert (await Quota(store).charge("busy", 1, many)).allowed  # another process builds on it


async def test_a_limit_holds_across_two_api_processes(settings: Settings, store: Store) -> None:
    """Two real API processes on one database: a key's burst of 20 is shared, not doubled."""
    # a token every 10 s: a busy machine's seconds between the processes' first charges do
    # not refill the bucket in between
    await Tenants(store, RateLimit(1000, 2000)).set_limit("acme", RateLimit(0.1, 20))
    system = System(settings)
    try:
        a = await system.spawn_api("api-a")
        b = await system.spawn_api("api-b", port=free_port())
        urls = [a, b]
        headers = {"Authorization": f"Bearer {system.key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            started = time.monotonic()
            first = await asyncio.gather(*(http.get(f"{a}/api/notifications") for _ in range(20)))
            # process b has never served this key: it still sees the bucket a emptied
            second = await asyncio.gather(*(http.get(f"{b}/api/notifications") for _ in range(10)))
            mixed = await asyncio.gather(
                *(http.get(f"{urls[i % 2]}/api/notifications") for i in range(40))
            )
            elapsed = time.monotonic() - started
        assert [r.status_code for r in first] == [200] * 20
        refused = [r for r in second if r.status_code == 429]
        assert refused, [r.status_code for r in second]
        assert int(refused[0].headers["retry-after"]) >= 1
        # a token every 10 s comes back: at most that many more, whichever process answers
        allowed = sum(r.status_code == 200 for r in [*second, *mixed])
        assert allowed <= int(elapsed * 0.1) + 1, (allowed, elapsed)
    finally:
        await system.stop()


async def test_a_busy_key_is_charged_in_memory_from_leases(store: Store) -> None:
    """At the default 1,000/s a lease holds 100 tokens: 500 requests cost a handful of writes,
    and every one of them was charged to the shared bucket first."""
    quota = Quota(store)
    limit = RateLimit(per_second=1000.0, burst=2000)
    assert lease_size(limit) == 100
    started = time.monotonic()
    decisions = [await quota.charge("busy", 1, limit) for _ in range(500)]
    refilled = int((time.monotonic() - started) * limit.per_second) + 1
    assert all(d.allowed for d in decisions)
    state = await store.quotas.collection.find_one({"_id": "busy"})
    assert state is not None
    assert state["seq"] <= 500 // 100 + 1  # one write per lease, not one per request
    assert decisions[-1].remaining <= 2000 - 500 + refilled  # the lease counts as spent here
    await quota.close()


class _Watched(Quota):
    """A Quota that counts its writes and says when one is under way."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.writes = 0
        self.writing = asyncio.Event()

    async def _swap(self, bucket: str, seq: int, tat: float) -> bool:
        self.writes += 1
        self.writing.set()
        return await super()._swap(bucket, seq, tat)


async def test_charges_queued_behind_a_write_are_answered_from_the_lease_it_took(
    store: Store,
) -> None:
    """When the database is slow, requests queue while a charge is written: the lease that
    write takes answers them, instead of a second write dropping it unspent (at 500/s that
    wasted a lease of 100 tokens per write and the key was refused 429 at half its limit)."""
    quota = _Watched(store)
    limit = RateLimit(per_second=1000.0, burst=2000)
    first = asyncio.create_task(quota.charge("queued", 1, limit))
    await asyncio.wait_for(quota.writing.wait(), 10)
    queued = [asyncio.create_task(quota.charge("queued", 1, limit)) for _ in range(50)]
    decisions = [await first, *await asyncio.gather(*queued)]
    assert all(d.allowed for d in decisions)
    assert quota.writes == 1  # the 50 came out of the first write's lease of 100
    state = await store.quotas.collection.find_one({"_id": "queued"})
    assert state is not None
    assert state["seq"] == 1
    await quota.close()


async def test_leases_never_admit_more_than_the_shared_bucket_and_refuse_early_by_a_bound(
    store: Store,
) -> None:
    """Four processes on one key: together they admit no more than the bucket gives, and
    refuse early by at most one unspent lease each."""
    limit = RateLimit(per_second=100.0, burst=100)
    size = lease_size(limit)
    assert size == 10
    quotas = [Quota(store) for _ in range(4)]
    started = time.monotonic()
    decisions = await asyncio.gather(
        *(quotas[i % 4].charge("shared-leases", 1, limit) for i in range(400))
    )
    elapsed = time.monotonic() - started
    allowed = sum(d.allowed for d in decisions)
    refilled = int(elapsed * limit.per_second) + 1
    assert allowed <= limit.burst + refilled
    assert allowed >= limit.burst - len(quotas) * size
    for q in quotas:
        await q.close()


async def test_a_slow_limit_gets_no_lease(store: Store) -> None:
    assert lease_size(SLOW) == 0
    assert lease_size(RateLimit(per_second=9.0, burst=1000)) == 0
