"""The store on the real database: claims, conditional transitions, counters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from wavecom.constants import Channel, Priority, Status
from wavecom.settings import Settings
from wavecom.store import Store, job_of, new_notification


def doc(i: int) -> dict[str, Any]:
    return new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient=f"+23480{i:08d}",
        subject=None,
        message="hi",
        priority=Priority.HIGH,
        metadata={},
        max_retries=3,
        scheduled_at=None,
        now=datetime.now(UTC),
    )


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
    await store.insert_notifications(docs)
    await store.record_intake(docs)
    jobs = [job_of(d) for d in docs]
    won_a, won_b = await asyncio.gather(store.claim(jobs, "a"), other_store.claim(jobs, "b"))
    assert won_a.isdisjoint(won_b)
    assert won_a | won_b == {j.id for j in jobs}
    stats = await store.tenant_stats("acme")
    assert stats.by_status[Status.PROCESSING.value] == 50
    assert stats.by_status[Status.QUEUED.value] == 0


async def test_a_claimed_notification_reads_as_processing_until_its_outcome(
    store: Store,
) -> None:
    d = doc(1)
    await store.insert_notifications([d])
    job = job_of(d)
    before = await store.get("acme", d["_id"])
    assert before is not None
    assert before["status"] == "QUEUED"
    await store.claim([job], "t")
    now = await store.get("acme", d["_id"])
    assert now is not None
    assert now["status"] == "PROCESSING"
    assert [e["status"] for e in now["timeline"]] == ["PENDING", "QUEUED", "PROCESSING"]
    assert await store.get("someone-else", d["_id"]) is None


async def test_a_stale_attempt_is_not_claimed(store: Store) -> None:
    d = doc(1)
    await store.insert_notifications([d])
    job = job_of(d)
    assert await store.claim([job], "first") == {job.id}
    # the same first attempt again (a redelivery after the first one finished)
    assert await store.claim([job], "again") == set()
    # the next attempt, once the notification waits for it, is a new round
    await store.notifications.update_one(
        {"_id": d["_id"]}, {"$set": {"status": "RETRYING", "retryCount": 1}}
    )
    assert await store.claim([job.next_attempt()], "retry") == {job.id}


async def test_a_parked_job_is_a_new_round_of_the_same_attempt(store: Store) -> None:
    d = doc(1)
    await store.insert_notifications([d])
    job = job_of(d)
    assert await store.claim([job], "first") == {job.id}
    await store.notifications.update_one({"_id": d["_id"]}, {"$set": {"status": "QUEUED"}})
    assert await store.claim([job], "same-round") == set()
    assert await store.claim([job.parked()], "parked") == {job.id}


async def test_counters_from_many_writers_add_up(store: Store, other_store: Store) -> None:
    docs = [doc(i) for i in range(40)]
    await store.insert_notifications(docs)
    await asyncio.gather(
        *(
            s.record_intake(docs[i : i + 5])
            for i, s in zip(range(0, 40, 5), [store, other_store] * 4, strict=True)
        )
    )
    stats = await other_store.tenant_stats("acme")
    assert stats.total == 40
    assert stats.by_status == Counter({"QUEUED": 40})
    assert stats.by_type == {"SMS": 40}
    assert stats.by_priority == {"HIGH": 40}
    assert (await store.tenant_stats("someone-else")).total == 0
