"""``wavecom.store.overdue`` on the real database: the sweeper's scan finds the waiting
notifications of one status untouched since the cutoff (a retry not yet due is not overdue),
without their timelines; its mark is a conditional write that re-stamps only the documents
still exactly as read and returns those, so a notification a worker claimed meanwhile, or
another sweep marked, is never published again by this one. Times are passed in: the documents'
``updatedAt`` and the mark's clock are set, never waited for. (The sweeper that publishes what
is marked is tests/relay/test_sweeper.py's.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.support.documents import doc
from wavecom.core.constants import NOTIFICATIONS, Status
from wavecom.store import Doc, Store

CUTOFF = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LONG_AGO = CUTOFF - timedelta(minutes=10)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The mark's clock: each call the next millisecond after CUTOFF, or ``now[0]`` when set."""
    now: list[datetime] = []
    ticks = iter(range(1, 1_000_000))

    def utcnow() -> datetime:
        return now[0] if now else CUTOFF + timedelta(milliseconds=next(ticks))

    monkeypatch.setattr("wavecom.store.overdue.utcnow", utcnow)
    return now


async def stored(
    store: Store, n: int, status: Status = Status.QUEUED, **fields: object
) -> list[Doc]:
    """``n`` notifications of ``status`` last touched LONG_AGO (and ``fields``)."""
    docs = [doc(i) for i in range(n)]
    await store.notifications.insert(docs)
    await store.db[NOTIFICATIONS].update_many(
        {"_id": {"$in": [d["_id"] for d in docs]}},
        {"$set": {"status": status.value, "updatedAt": LONG_AGO, **fields}},
    )
    return docs


async def scanned(store: Store, status: Status = Status.QUEUED, limit: int = 100) -> list[Doc]:
    return await store.overdue.scan(status, CUTOFF, limit)


def ids(docs: list[Doc]) -> set[ObjectId]:
    return {d["_id"] for d in docs}


async def test_the_scan_finds_the_waiting_ones_untouched_since_the_cutoff(store: Store) -> None:
    old = await stored(store, 3)
    fresh = doc(10)
    await store.notifications.insert([fresh])
    await store.db[NOTIFICATIONS].update_one(
        {"_id": fresh["_id"]}, {"$set": {"updatedAt": CUTOFF + timedelta(seconds=1)}}
    )
    found = await scanned(store)
    assert ids(found) == ids(old)
    assert all("timeline" not in d and d["status"] == "QUEUED" for d in found)
    assert await scanned(store, Status.RETRYING) == []  # one status per scan


async def test_the_scan_takes_no_more_than_its_limit(store: Store) -> None:
    docs = await stored(store, 5)
    found = await scanned(store, limit=2)
    assert len(found) == 2
    assert ids(found) <= ids(docs)


async def test_a_retry_is_overdue_only_once_its_next_attempt_is_before_the_cutoff(
    store: Store,
) -> None:
    [later] = await stored(store, 1, Status.RETRYING, nextAttemptAt=CUTOFF + timedelta(minutes=1))
    assert await scanned(store, Status.RETRYING) == []
    await store.db[NOTIFICATIONS].update_one(
        {"_id": later["_id"]}, {"$set": {"nextAttemptAt": CUTOFF - timedelta(seconds=1)}}
    )
    assert ids(await scanned(store, Status.RETRYING)) == {later["_id"]}


async def test_a_mark_stamps_each_one_with_its_entry_and_returns_them(
    store: Store, clock: list[datetime]
) -> None:
    clock.append(CUTOFF + timedelta(seconds=5))
    await stored(store, 2)
    read = await scanned(store)
    assert await store.overdue.mark(read, "published again") == read
    for d in read:
        now = await store.db[NOTIFICATIONS].find_one({"_id": d["_id"]})
        assert now is not None
        assert now["updatedAt"] == clock[0]
        entry = now["timeline"][-1]
        # its round, its time and the marking call's own token
        prefix = f"{d['_id']}:requeue:0:0:{int(clock[0].timestamp() * 1000)}:"
        assert entry["_id"].startswith(prefix)
        assert len(entry["_id"]) == len(prefix) + 8
        assert (entry["status"], entry["message"], entry["metadata"]) == (
            "QUEUED",
            "published again",
            {"attempt": 0},
        )
    assert await scanned(store) == []  # re-stamped: not overdue at this cutoff any more


async def test_a_mark_of_nothing_returns_nothing(store: Store) -> None:
    assert await store.overdue.mark([], "published again") == []


async def test_one_claimed_or_touched_since_the_scan_is_left_alone_and_not_returned(
    store: Store, clock: list[datetime]
) -> None:
    await stored(store, 3)
    read = await scanned(store)
    claimed, touched, waiting = read
    coll = store.db[NOTIFICATIONS]
    await coll.update_one({"_id": claimed["_id"]}, {"$set": {"status": "PROCESSING"}})
    await coll.update_one({"_id": touched["_id"]}, {"$set": {"updatedAt": CUTOFF}})
    assert await store.overdue.mark(read, "published again") == [waiting]
    for left in (claimed, touched):
        now = await coll.find_one({"_id": left["_id"]})
        assert now is not None
        assert [e["message"] for e in now["timeline"]].count("published again") == 0


async def test_of_two_sweeps_marking_what_they_both_read_only_the_first_gets_it(
    store: Store, clock: list[datetime]
) -> None:
    await stored(store, 2)
    read = await scanned(store)
    assert await store.overdue.mark(read, "published again") == read
    assert await store.overdue.mark(read, "published again") == []
    for d in read:
        now = await store.db[NOTIFICATIONS].find_one({"_id": d["_id"]})
        assert now is not None
        assert [e["message"] for e in now["timeline"]].count("published again") == 1


async def test_a_sweep_refused_in_the_same_millisecond_as_the_winner_returns_nothing(
    store: Store, clock: list[datetime]
) -> None:
    clock.append(CUTOFF + timedelta(seconds=5))  # both sweeps mark at this instant
    await stored(store, 1)
    read = await scanned(store)
    assert await store.overdue.mark(read, "published again") == read
    assert await store.overdue.mark(read, "published again") == []
