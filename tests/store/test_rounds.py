"""Delivery rounds on the real database: claims, outcomes, retakes, and the counters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.support.documents import doc
from wavecom.core.constants import Status
from wavecom.core.settings import Settings
from wavecom.store import Outcome, Store, job_of


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """A second process's view of the same database."""
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    yield s
    await s.close()


async def test_two_workers_claiming_the_same_jobs_at_once_win_each_once(
    store: Store, other_store: Store
) -> None:
    docs = [doc(i) for i in range(50)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    jobs = [job_of(d) for d in docs]
    won_a, won_b = await asyncio.gather(
        store.rounds.claim(jobs, "a"), other_store.rounds.claim(jobs, "b")
    )
    assert won_a.isdisjoint(won_b)
    assert won_a | won_b == {j.id for j in jobs}
    stats = await store.counters.of("acme")
    assert stats.by_status[Status.PROCESSING.value] == 50
    assert stats.by_status[Status.QUEUED.value] == 0


async def test_a_claimed_notification_reads_as_processing_until_its_outcome(
    store: Store,
) -> None:
    d = doc(1)
    await store.notifications.insert([d])
    job = job_of(d)
    before = await store.notifications.get("acme", d["_id"])
    assert before is not None
    assert before["status"] == "QUEUED"
    await store.rounds.claim([job], "t")
    now = await store.notifications.get("acme", d["_id"])
    assert now is not None
    assert now["status"] == "PROCESSING"
    assert [e["status"] for e in now["timeline"]] == ["PENDING", "QUEUED", "PROCESSING"]
    assert await store.notifications.get("someone-else", d["_id"]) is None


async def test_a_stale_attempt_is_not_claimed(store: Store) -> None:
    d = doc(1)
    await store.notifications.insert([d])
    job = job_of(d)
    assert await store.rounds.claim([job], "first") == {job.id}
    # the same first attempt again (a redelivery after the first one finished)
    assert await store.rounds.claim([job], "again") == set()
    # the next attempt, once the notification waits for it, is a new round
    await store.notifications.collection.update_one(
        {"_id": d["_id"]}, {"$set": {"status": "RETRYING", "retryCount": 1}}
    )
    assert await store.rounds.claim([job.next_attempt()], "retry") == {job.id}


async def test_a_parked_job_is_a_new_round_of_the_same_attempt(store: Store) -> None:
    d = doc(1)
    await store.notifications.insert([d])
    job = job_of(d)
    assert await store.rounds.claim([job], "first") == {job.id}
    started = datetime.now(UTC)
    parked = Outcome(
        job,
        Status.QUEUED,
        started,
        started,
        "every provider unavailable",
        retry_count=0,
        next_round=1,
    )
    await store.rounds.record_outcomes([parked], "first")
    assert await store.rounds.claim([job], "same-round") == set()
    assert await store.rounds.claim([job.parked()], "parked") == {job.id}


async def test_only_the_claimer_stores_the_outcome(store: Store) -> None:
    d = doc(1)
    await store.notifications.insert([d])
    job = job_of(d)
    assert await store.rounds.claim([job], "mine") == {job.id}
    now = datetime.now(UTC)
    sent = Outcome(job, Status.SENT, now, now, "sent", provider="p", provider_message_id="m")
    await store.rounds.record_outcomes([sent], "not-mine")
    after = await store.notifications.get("acme", d["_id"])
    assert after is not None
    assert after["status"] == "PROCESSING"
    await store.rounds.record_outcomes([sent], "mine")
    after = await store.notifications.get("acme", d["_id"])
    assert after is not None
    assert after["status"] == "SENT"
    assert "claim" not in after
    assert [e["status"] for e in after["timeline"]] == ["PENDING", "QUEUED", "PROCESSING", "SENT"]


async def test_a_round_whose_claimer_died_is_retaken_once(store: Store, other_store: Store) -> None:
    d = doc(1)
    await store.notifications.insert([d])
    job = job_of(d)
    assert await store.rounds.claim([job], "died") == {job.id}
    # a young claim: the claimer may still be delivering
    assert await store.rounds.examine_lost([job], claim_ttl_s=60) == ([], [job])
    # an old one: exactly one of two examiners moves it to the next round
    results = await asyncio.gather(
        store.rounds.examine_lost([job], claim_ttl_s=0),
        other_store.rounds.examine_lost([job], claim_ttl_s=0),
    )
    retaken = [r for retake, _ in results for r in retake]
    assert retaken == [job.retake()]
    assert retaken[0].retaken
    assert await store.rounds.claim([job.parked()], "next") == {job.id}
    stats = await store.counters.of("acme")
    assert stats.by_status.get("PROCESSING") == 1


async def test_a_cancel_and_a_claim_racing_have_one_winner(
    store: Store, other_store: Store
) -> None:
    docs = [doc(i) for i in range(30)]
    await store.notifications.insert(docs)
    jobs = [job_of(d) for d in docs]
    claimed, *cancels = await asyncio.gather(
        store.rounds.claim(jobs, "w"),
        *(other_store.notifications.cancel("acme", d["_id"]) for d in docs),
    )
    for d, (after, refused) in zip(docs, cancels, strict=True):
        assert after is not None
        won_by_worker = str(d["_id"]) in claimed
        assert won_by_worker == (refused is not None), (won_by_worker, refused)
    final = {
        x["_id"]: x["status"] for x in await store.notifications.get_many([d["_id"] for d in docs])
    }
    assert sorted(final.values()) == sorted(
        "PROCESSING" if str(i) in claimed else "CANCELLED" for i in final
    )


async def test_counters_from_many_writers_add_up(store: Store, other_store: Store) -> None:
    docs = [doc(i) for i in range(40)]
    await store.notifications.insert(docs)
    await asyncio.gather(
        *(
            s.notifications.count_intake(docs[i : i + 5])
            for i, s in zip(range(0, 40, 5), [store, other_store] * 4, strict=True)
        )
    )
    stats = await other_store.counters.of("acme")
    assert stats.total == 40
    assert stats.by_status == Counter({"QUEUED": 40})
    assert stats.by_type == {"SMS": 40}
    assert stats.by_priority == {"HIGH": 40}
    assert (await store.counters.of("someone-else")).total == 0
