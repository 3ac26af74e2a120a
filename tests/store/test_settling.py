"""``wavecom.store.settling``: the tallies of a worker's claims and outcomes, settled together
on the real database."""

from __future__ import annotations

import asyncio

from tests.support.commands import Commands
from tests.support.documents import doc
from wavecom.core.constants import STATS
from wavecom.store import Store, job_of
from wavecom.store.settling import Settler


async def test_claims_settled_within_the_linger_share_one_update(
    watched_store: Store, commands: Commands
) -> None:
    store = watched_store
    docs = [doc(i) for i in range(6)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    settler = Settler(store.counters, linger_s=1.0)
    store.rounds.settler = settler
    jobs = [job_of(d) for d in docs]
    for i in range(3):  # three batches, two notifications each
        won = await store.rounds.claim(jobs[2 * i : 2 * i + 2], f"batch-{i}")
        assert len(won) == 2
    commands.seen.clear()
    await settler.close()  # waits out the linger, then the one settle
    assert commands.seen[("update", STATS)] == 1  # one settle for the three batches
    stats = await store.counters.of("acme")
    assert stats.by_status["PROCESSING"] == 6
    assert stats.by_status["QUEUED"] == 0
    pending = ((await store.db[STATS].find_one({"_id": "acme"})) or {}).get("pending") or {}
    assert pending == {}


async def test_every_tally_added_is_settled_by_close(store: Store) -> None:
    docs = [doc(i) for i in range(2)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    settler = Settler(store.counters, linger_s=0.01)
    store.rounds.settler = settler
    [first, second] = [job_of(d) for d in docs]
    await store.rounds.claim([first], "batch-1")
    await store.rounds.claim([second], "batch-2")
    await settler.close()
    assert (await store.counters.of("acme")).by_status["PROCESSING"] == 2


async def test_nothing_added_closes_at_once(store: Store) -> None:
    await asyncio.wait_for(Settler(store.counters, linger_s=30).close(), 10)
