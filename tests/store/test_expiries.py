"""Expiry on the real database: a claim expires an expired job instead of claiming it, the
sweep expires what waits, a replay and a scheduled release refuse an expired notification, and
each race between them has exactly one winner, counted once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from tests.support import documents
from wavecom.core.constants import Priority, Status
from wavecom.core.settings import Settings
from wavecom.store import Outcome, Store, job_of, utcnow
from wavecom.store.expiries import Where


def doc(
    i: int, *, expires_in_s: float | None, scheduled_in_s: float | None = None
) -> dict[str, Any]:
    return documents.doc(
        i,
        message="Your code is 123456",
        priority=Priority.CRITICAL,
        expires_in_s=expires_in_s,
        scheduled_in_s=scheduled_in_s,
    )


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """A second process's view of the same database."""
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    yield s
    await s.close()


async def stored(store: Store, *docs: dict[str, Any]) -> None:
    await store.notifications.insert(docs)
    await store.schedule.add([d for d in docs if d["status"] == Status.SCHEDULED.value])
    await store.notifications.count_intake(docs)


async def test_a_claim_expires_an_expired_job_instead_of_claiming_it(store: Store) -> None:
    late, fresh, endless = (
        doc(1, expires_in_s=-1),
        doc(2, expires_in_s=60),
        doc(3, expires_in_s=None),
    )
    await stored(store, late, fresh, endless)
    jobs = [job_of(d) for d in (late, fresh, endless)]
    assert jobs[0].expires_ms
    assert jobs[2].expires_ms == 0

    claimed = await store.rounds.claim_rounds(jobs, "w1")

    assert claimed.won == {jobs[1].id, jobs[2].id}
    assert claimed.expired == {jobs[0].id: Where.QUEUED}
    after = await store.notifications.get("acme", late["_id"])
    assert after is not None
    assert after["status"] == "EXPIRED"
    assert after["expiredWhere"] == "queued"
    assert "claim" not in after
    step = after["timeline"][-1]
    assert step["status"] == "EXPIRED"
    assert step["_id"] == f"{late['_id']}:w1:x"
    assert "while queued" in step["message"]
    assert step["metadata"]["where"] == "queued"
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 2, "EXPIRED": 1}


async def test_where_a_claim_found_it_follows_the_job(store: Store) -> None:
    ds = [doc(i, expires_in_s=-1) for i in range(4)]
    ds[1].update(status="RETRYING", retryCount=1)  # waiting for its second attempt
    ds[2].update(round=1, heldBy="breaker")  # parked behind open breakers
    ds[3].update(round=1)  # retaken below: its worker was lost
    await stored(store, *ds)
    first, retry, parked = (job_of(d) for d in ds[:3])
    retaken = job_of({**ds[3], "round": 0}).retake()
    claimed = await store.rounds.claim_rounds([first, retry, parked, retaken], "w")
    assert claimed.won == set()
    assert claimed.expired == {
        first.id: Where.QUEUED,
        retry.id: Where.RETRY,
        parked.id: Where.BREAKER,
        retaken.id: Where.LOST_WORKER,
    }


async def test_two_claims_and_a_sweep_racing_over_expired_jobs_expire_each_once(
    store: Store, other_store: Store
) -> None:
    ds = [doc(i, expires_in_s=-1) for i in range(40)]
    await stored(store, *ds)
    jobs = [job_of(d) for d in ds]
    waiting = await store.expiries.overdue(utcnow(), 1000)
    a, b, swept = await asyncio.gather(
        store.rounds.claim_rounds(jobs, "a"),
        other_store.rounds.claim_rounds(jobs, "b"),
        other_store.expiries.expire(waiting, utcnow()),
    )
    assert not a.won
    assert not b.won
    ids = [*a.expired, *b.expired, *(str(d["_id"]) for d, _ in swept)]
    assert sorted(ids) == sorted(j.id for j in jobs)  # each exactly once
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "EXPIRED": 40}
    for d in await store.notifications.get_many([x["_id"] for x in ds]):
        assert [e["status"] for e in d["timeline"]].count("EXPIRED") == 1


async def test_the_sweep_expires_what_waits_and_leaves_the_rest(store: Store) -> None:
    queued = doc(1, expires_in_s=-1)
    scheduled = doc(2, expires_in_s=-1, scheduled_in_s=30)
    valid = doc(3, expires_in_s=60)
    endless = doc(4, expires_in_s=None)
    held = doc(5, expires_in_s=60)
    await stored(store, queued, scheduled, valid, endless, held)
    await store.rounds.claim([job_of(held)], "worker")  # a worker's: it checks before sending
    await store.notifications.collection.update_one(
        {"_id": held["_id"]}, {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}}
    )
    parked = doc(6, expires_in_s=-1)
    parked.update(status="RETRYING", retryCount=1, heldBy="breaker")
    await stored(store, parked)

    expired = await store.expiries.expire(await store.expiries.overdue(utcnow(), 100), utcnow())

    where = {str(d["_id"]): w for d, w in expired}
    assert where == {
        str(queued["_id"]): Where.QUEUED,
        str(scheduled["_id"]): Where.SCHEDULED,
        str(parked["_id"]): Where.BREAKER,
    }
    states = {
        str(d["_id"]): d["status"]
        for d in await store.notifications.get_many([x["_id"] for x in (valid, endless, held)])
    }
    assert set(states.values()) == {"QUEUED", "PROCESSING"}
    # the schedule forgets it; a second sweep finds nothing
    assert await store.schedule.due(utcnow() + timedelta(minutes=1), 10) == []
    assert await store.expiries.expire(await store.expiries.overdue(utcnow(), 100), utcnow()) == []
    stats = await store.counters.of("acme")
    assert stats.by_status["EXPIRED"] == 3
    assert stats.by_status["SCHEDULED"] == 0


async def test_a_due_scheduled_notification_past_its_expiry_is_not_released(
    store: Store,
) -> None:
    d = doc(1, expires_in_s=-1, scheduled_in_s=1)
    await stored(store, d)
    assert await store.schedule.release([d["_id"]]) == []
    after = await store.notifications.get("acme", d["_id"])
    assert after is not None
    assert after["status"] == "SCHEDULED"


async def test_an_expired_dead_letter_is_not_replayed(store: Store) -> None:
    late, fresh = doc(1, expires_in_s=-1), doc(2, expires_in_s=60)
    for d in (late, fresh):
        d["status"] = "FAILED"
    await stored(store, late, fresh)
    assert await store.notifications.replay(late) is None
    job = await store.notifications.replay(fresh)
    assert job is not None
    assert job.expires_ms == job_of(fresh).expires_ms
    states = {
        str(d["_id"]): d["status"]
        for d in await store.notifications.get_many([late["_id"], fresh["_id"]])
    }
    assert states == {str(late["_id"]): "FAILED", str(fresh["_id"]): "QUEUED"}


async def test_an_expired_outcome_is_stored_with_where_and_leaves_no_next_attempt(
    store: Store,
) -> None:
    d = doc(1, expires_in_s=60)
    await stored(store, d)
    job = job_of(d)
    assert await store.rounds.claim([job], "t") == {job.id}
    now = utcnow()
    await store.rounds.record_outcomes(
        [Outcome(job, Status.EXPIRED, now, now, Where.RATE_CAP.message, where=Where.RATE_CAP)],
        "t",
    )
    after = await store.notifications.get("acme", ObjectId(job.id))
    assert after is not None
    assert after["status"] == "EXPIRED"
    assert after["expiredWhere"] == "rate_cap"
    assert after["timeline"][-1]["metadata"]["where"] == "rate_cap"
    assert "nextAttemptAt" not in after
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "EXPIRED": 1}
