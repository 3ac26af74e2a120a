"""``wavecom.store.pending`` on the real database: the outbox (requests whose publish the broker
has not confirmed) and the schedule (SCHEDULED notifications by due time), which the relay
works through. (A due notification past its expiry is tests/store/test_expiries.py's.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.documents import doc, scheduled
from wavecom.core.constants import OUTBOX, STATS, Status
from wavecom.core.settings import Settings
from wavecom.store import Store, utcnow


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """Another API process's view of the same database (a second relay)."""
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    yield s
    await s.close()


async def pending_tallies(store: Store) -> dict[str, Any]:
    return dict(((await store.db[STATS].find_one({"_id": "acme"})) or {}).get("pending") or {})


# --- the outbox --------------------------------------------------------------------------------


async def test_an_outbox_entry_holds_a_requests_ids_and_falls_due_after_its_grace(
    store: Store,
) -> None:
    docs = [doc(i) for i in range(3)]
    entry = await store.outbox.add(docs, timedelta(seconds=30))
    assert entry is not None
    assert await store.outbox.due(utcnow(), 10) == []  # within its grace: its API may confirm
    [due] = await store.outbox.due(utcnow() + timedelta(seconds=31), 10)
    assert due["_id"] == entry
    assert due["ids"] == [d["_id"] for d in docs]  # one entry for the whole request
    assert await store.db[OUTBOX].count_documents({}) == 1


async def test_an_empty_request_adds_no_entry(store: Store) -> None:
    assert await store.outbox.add([], timedelta(seconds=0)) is None
    assert await store.db[OUTBOX].count_documents({}) == 0


async def test_due_outbox_entries_come_oldest_first_up_to_the_limit(store: Store) -> None:
    entries = [await store.outbox.add([doc(i)], timedelta(seconds=-10 + i)) for i in range(4)]
    due = await store.outbox.due(utcnow(), 3)
    assert [e["_id"] for e in due] == entries[:3]


async def test_forget_drops_only_the_confirmed_entries(store: Store) -> None:
    grace = timedelta(seconds=-1)
    a, b, c = [await store.outbox.add([doc(i)], grace) for i in range(3)]
    assert a
    assert b
    assert c
    await store.outbox.forget(None)  # a request without an entry: nothing to do
    await store.outbox.forget(a)
    await store.outbox.forget_many([])
    await store.outbox.forget_many([b, "never-added"])
    assert [e["_id"] for e in await store.outbox.due(utcnow(), 10)] == [c]


# --- the schedule ------------------------------------------------------------------------------


async def test_the_schedule_answers_what_is_due_oldest_first_up_to_the_limit(
    store: Store,
) -> None:
    docs = await scheduled(store, -3, 3600, -1, -2)
    entries = await store.schedule.due(utcnow(), 2)
    assert [e["_id"] for e in entries] == [docs[0]["_id"], docs[3]["_id"]]
    assert {e["tenantId"] for e in entries} == {"acme"}
    first = await store.notifications.get("acme", docs[0]["_id"])
    assert first is not None
    assert entries[0]["dueAt"] == first["scheduledAt"]  # due when it was scheduled for
    later = await store.schedule.due(utcnow() + timedelta(hours=2), 10)
    assert len(later) == 4


async def test_release_queues_the_due_ones_it_is_given_and_counts_each_move(
    store: Store,
) -> None:
    due, not_given = await scheduled(store, -1, -1)
    released = await store.schedule.release([due["_id"]])
    assert [d["_id"] for d in released] == [due["_id"]]
    assert released[0]["status"] == Status.QUEUED.value  # the document after the move
    after = await store.notifications.get("acme", due["_id"])
    assert after is not None
    assert after["status"] == Status.QUEUED.value
    assert [(e["status"], e["message"]) for e in after["timeline"]][-1] == (
        "QUEUED",
        "Due: added to queue",
    )
    untouched = await store.notifications.get("acme", not_given["_id"])
    assert untouched is not None
    assert untouched["status"] == Status.SCHEDULED.value
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 1, "QUEUED": 1}
    assert stats.total == 2
    assert await pending_tallies(store) == {}  # settled, nothing left for the repair
    # release does not take it off the schedule: the relay removes it once it is published
    assert len(await store.schedule.due(utcnow(), 10)) == 2


async def test_a_second_release_moves_nothing_and_counts_nothing(store: Store) -> None:
    docs = await scheduled(store, -1, -1)
    ids = [d["_id"] for d in docs]
    assert len(await store.schedule.release(ids)) == 2
    assert await store.schedule.release(ids) == []  # a relay whose publish was not confirmed
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 0, "QUEUED": 2}
    assert await pending_tallies(store) == {}


async def test_two_relays_releasing_at_once_move_each_notification_once(
    store: Store, other_store: Store
) -> None:
    docs = await scheduled(store, *([-1] * 20))
    ids = [d["_id"] for d in docs]
    mine, theirs = await asyncio.gather(
        store.schedule.release(ids), other_store.schedule.release(ids[::-1])
    )
    moved = [d["_id"] for d in mine + theirs]
    assert sorted(moved) == sorted(ids)  # every one moved, none twice
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 0, "QUEUED": 20}
    for d in await store.notifications.get_many(ids):
        assert [e["status"] for e in d["timeline"]].count("QUEUED") == 1


async def test_a_cancelled_notification_has_left_the_schedule_and_is_not_released(
    store: Store,
) -> None:
    cancelled, kept = await scheduled(store, -1, -1)
    gone, reason = await store.notifications.cancel("acme", cancelled["_id"])
    assert gone is not None
    assert reason is None
    released = await store.schedule.release([cancelled["_id"], kept["_id"]])
    assert [d["_id"] for d in released] == [kept["_id"]]
    after = await store.notifications.get("acme", cancelled["_id"])
    assert after is not None
    assert after["status"] == Status.CANCELLED.value
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 0, "QUEUED": 1, "CANCELLED": 1}


async def test_release_of_nothing_and_remove_take_entries_off_the_schedule(store: Store) -> None:
    docs = await scheduled(store, -1, -1, -1)
    assert await store.schedule.release([]) == []
    await store.schedule.remove([])
    await store.schedule.remove(d["_id"] for d in docs[:2])  # any iterable
    assert [e["_id"] for e in await store.schedule.due(utcnow(), 10)] == [docs[2]["_id"]]
    # the notifications themselves are not touched
    assert {d["status"] for d in await store.notifications.get_many([d["_id"] for d in docs])} == {
        "SCHEDULED"
    }
