"""``wavecom.store.quotas`` on the real database: a bucket's GCRA state moves only by
compare-and-set, from ``seq`` to ``seq + 1``; of two processes swapping from one state exactly
one wins, for a new bucket (a unique insert) as for a charged one (a conditional update).
(What the API makes of it is tests/api/test_quota.py's.)"""

from __future__ import annotations

import asyncio

import pytest

from wavecom.core.constants import QUOTAS
from wavecom.store import Store


async def test_a_bucket_never_charged_reads_as_zero(store: Store) -> None:
    assert await store.quotas.read("fresh") == (0, 0.0)
    assert await store.db[QUOTAS].count_documents({}) == 0


async def test_each_swap_moves_the_bucket_one_state_on(store: Store) -> None:
    assert await store.quotas.swap("b", 0, 10.5)
    assert await store.quotas.read("b") == (1, 10.5)
    assert await store.quotas.swap("b", 1, 11.25)
    assert await store.quotas.read("b") == (2, 11.25)
    assert await store.db[QUOTAS].find_one({"_id": "b"}) == {"_id": "b", "seq": 2, "tat": 11.25}


async def test_a_swap_from_a_state_the_bucket_left_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    await store.quotas.swap("b", 0, 1.0)
    await store.quotas.swap("b", 1, 2.0)
    assert not await store.quotas.swap("b", 0, 9.0)  # created already
    assert not await store.quotas.swap("b", 1, 9.0)  # moved on since
    assert not await store.quotas.swap("b", 5, 9.0)  # never there
    assert not await store.quotas.swap("never", 3, 9.0)  # a bucket that does not exist
    assert await store.quotas.read("b") == (2, 2.0)
    assert await store.quotas.read("never") == (0, 0.0)


@pytest.mark.parametrize("charged", [0, 2], ids=["new bucket", "charged bucket"])
async def test_of_two_processes_swapping_from_one_state_exactly_one_wins(
    store: Store, other_store: Store, charged: int
) -> None:
    for seq in range(charged):
        assert await store.quotas.swap("b", seq, float(seq))
    won = await asyncio.gather(
        store.quotas.swap("b", charged, 100.0), other_store.quotas.swap("b", charged, 200.0)
    )
    assert sorted(won) == [False, True]
    seq, tat = await store.quotas.read("b")
    assert seq == charged + 1
    assert tat == (100.0 if won[0] else 200.0)  # the winner's value, whole


async def test_buckets_move_independently(store: Store) -> None:
    await store.quotas.swap("a", 0, 1.0)
    await store.quotas.swap("b", 0, 2.0)
    await store.quotas.swap("b", 1, 3.0)
    assert await store.quotas.read("a") == (1, 1.0)
    assert await store.quotas.read("b") == (2, 3.0)
