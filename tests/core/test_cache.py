"""``wavecom.core.cache``: the per-process read-through cache (API keys' and tenants' settings).

Its reads are a function it is given: here one that counts its calls and answers when the test
lets it, so what is read again and what is shared is exact; its clock is one the test moves
(``tests/support/clock.py``).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import Clock, stand_in
from tests.support.wait import wait_for
from wavecom.core import cache
from wavecom.core.cache import TtlCache


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stand_in(monkeypatch, cache)


class Source:
    """What the cache reads through: counts its reads; ``hold`` keeps them waiting."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.reads: list[str] = []
        self.version = 1
        self.takes = 0.0  # how long (on the test's clock) a read takes
        self.failing = False
        self.open = asyncio.Event()
        self.open.set()

    def hold(self) -> None:
        self.open.clear()

    async def read(self, key: str) -> str:
        self.reads.append(key)
        await self.open.wait()
        self.clock.now += self.takes
        if self.failing:
            raise ConnectionError(f"could not read {key}")
        return f"{key}@{self.version}"


@pytest.fixture
def source(clock: Clock) -> Source:
    return Source(clock)


async def reading(source: Source, n: int) -> bool:
    return len(source.reads) >= n


async def test_an_entry_is_answered_from_memory_until_its_ttl_then_read_again(
    clock: Clock, source: Source
) -> None:
    c = TtlCache(source.read, ttl_s=10)
    assert await c.get("k") == "k@1"
    source.version = 2
    clock.now += 9.9
    assert await c.get("k") == "k@1"  # younger than the ttl: no read
    assert source.reads == ["k"]
    clock.now += 0.1
    assert await c.get("k") == "k@2"  # ttl_s old: read again
    assert source.reads == ["k", "k"]


async def test_an_entrys_age_counts_from_before_its_read(clock: Clock, source: Source) -> None:
    c = TtlCache(source.read, ttl_s=10)
    source.takes = 4  # a slow read: what it returns may be 4 s old when it arrives
    await c.get("k")
    clock.now += 5.9  # 9.9 s after the read began
    await c.get("k")
    assert len(source.reads) == 1
    clock.now += 0.1
    await c.get("k")
    assert len(source.reads) == 2


async def test_keys_are_cached_apart_and_forget_drops_only_its_key(
    clock: Clock, source: Source
) -> None:
    c = TtlCache(source.read, ttl_s=60)
    assert [await c.get(k) for k in ("a", "b", "a", "b")] == ["a@1", "b@1", "a@1", "b@1"]
    source.version = 2
    c.forget("a")  # this process changed "a"
    c.forget("never-read")  # nothing to forget: no error
    assert await c.get("a") == "a@2"
    assert await c.get("b") == "b@1"
    assert source.reads == ["a", "b", "a"]


async def test_concurrent_misses_of_a_key_share_one_read(clock: Clock, source: Source) -> None:
    c = TtlCache(source.read, ttl_s=60)
    source.hold()
    gets = [asyncio.create_task(c.get("k")) for _ in range(200)]
    other = asyncio.create_task(c.get("other"))
    await wait_for(lambda: reading(source, 2), what="the reads to start")
    source.open.set()
    assert await asyncio.gather(*gets) == ["k@1"] * 200
    assert await other == "other@1"
    assert sorted(source.reads) == ["k", "other"]  # one read per key, not one per request


async def test_a_waiter_cancelled_does_not_cancel_the_read_the_others_share(
    clock: Clock, source: Source
) -> None:
    c = TtlCache(source.read, ttl_s=60)
    source.hold()
    first = asyncio.create_task(c.get("k"))
    second = asyncio.create_task(c.get("k"))
    await wait_for(lambda: reading(source, 1), what="the read to start")
    first.cancel()  # its request went away
    source.open.set()
    assert await second == "k@1"
    assert first.cancelled()
    assert await c.get("k") == "k@1"  # and the value was kept for the next request
    assert source.reads == ["k"]


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached(
    clock: Clock, source: Source
) -> None:
    c = TtlCache(source.read, ttl_s=60)
    source.failing = True
    source.hold()
    gets = [asyncio.create_task(c.get("k")) for _ in range(3)]
    await wait_for(lambda: reading(source, 1), what="the read to start")
    source.open.set()
    results = await asyncio.gather(*gets, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert source.reads == ["k"]
    source.failing = False
    assert await c.get("k") == "k@1"  # the next use reads again
    assert source.reads == ["k", "k"]


async def test_past_max_entries_the_oldest_entry_is_dropped(clock: Clock, source: Source) -> None:
    c = TtlCache(source.read, ttl_s=60, max_entries=2)
    for k in ("a", "b", "c"):
        await c.get(k)
    await c.get("c")
    await c.get("b")
    assert source.reads == ["a", "b", "c"]  # b and c kept
    await c.get("a")  # a was dropped for c: read again (and b, now the oldest, dropped)
    await c.get("c")
    assert source.reads == ["a", "b", "c", "a"]
    await c.get("b")
    assert source.reads == ["a", "b", "c", "a", "b"]
