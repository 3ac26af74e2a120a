"""The counters' tallies on the real database: a batch's counter changes are counted once,
whether its writer settles them, dies before its document writes, dies after them, or races
the repair (``wavecom.store.counters``)."""

from __future__ import annotations

import asyncio
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest
from bson import Binary, ObjectId
from prometheus_client import REGISTRY

from tests.support.documents import doc
from wavecom.core.constants import STATS, Priority, Status
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.relay.reconcile import reconcile
from wavecom.store import Outcome, Store, job_of
from wavecom.store.counters import Tally, facet


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """A second process's view of the same database (the API process that repairs)."""
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    yield s
    await s.close()


def killed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's process dies right after its document writes: its settle never runs."""

    async def dead(tally: Tally, done: Collection[str]) -> None:
        return None

    monkeypatch.setattr(store.counters, "settle", dead)


async def drift(store: Store) -> dict[str, int]:
    """How the counters differ from the documents (what ``make verify`` reports)."""
    return (await reconcile(store)).drift.get("acme", {})


async def pending(store: Store) -> dict[str, Any]:
    stats = await store.db[STATS].find_one({"_id": "acme"}) or {}
    return dict(stats.get("pending") or {})


def outcome(job: DeliveryJob, ms: int) -> Outcome:
    """A SENT outcome that took ``ms``."""
    end = datetime.now(UTC)
    return Outcome(
        job, Status.SENT, end - timedelta(milliseconds=ms), end, "sent", provider="sms-a"
    )


async def stepped(store: Store, jobs: list[DeliveryJob], token: str) -> None:
    """A (slow, or killed) writer's document writes: PROCESSING, its claim step pushed."""
    for j in jobs:
        await store.notifications.collection.update_one(
            {"_id": ObjectId(j.id)},
            {
                "$set": {"status": "PROCESSING"},
                "$push": {"timeline": {"_id": f"{j.id}:{token}:p", "status": "PROCESSING"}},
            },
        )


async def queued(store: Store, n: int) -> list[DeliveryJob]:
    docs = [doc(i) for i in range(n)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    return [job_of(d) for d in docs]


async def claiming(store: Store, jobs: list[DeliveryJob]) -> Tally:
    """A claim of ``jobs`` by w1 whose tally is intended (written before its document
    writes, none of which is made)."""
    tally = Tally()
    for j in jobs:
        tally.moved(j.tenant_id, j.id, ":w1:p", "QUEUED", "PROCESSING", kind=j.kind)
    await store.counters.intend(tally)
    return tally


async def test_a_settled_tally_is_counted_once_and_the_repair_finds_nothing(store: Store) -> None:
    jobs = await queued(store, 10)
    assert await store.rounds.claim(jobs, "w1") == {j.id for j in jobs}
    assert await pending(store) == {}
    assert await store.notifications.repair_counters(after_s=0) == 0
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 10}
    assert stats.total == 10
    assert await drift(store) == {}


async def test_a_writer_killed_after_its_document_writes_is_counted_by_the_repair(
    store: Store, other_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = await queued(store, 20)
    killed(store, monkeypatch)
    await store.rounds.claim(jobs, "w1")
    # what a kill left, before: by status and by facet
    assert await drift(store) == {
        "QUEUED": 20,
        "PROCESSING": -20,
        "QUEUED/SMS/HIGH": 20,
        "PROCESSING/SMS/HIGH": -20,
    }
    # a young tally may belong to a writer still working: left alone
    assert await other_store.notifications.repair_counters() == 0
    repaired = REGISTRY.get_sample_value("counter_repaired_steps_total") or 0.0
    assert await other_store.notifications.repair_counters(after_s=0) == 20
    assert REGISTRY.get_sample_value("counter_repaired_steps_total") == repaired + 20
    assert await drift(store) == {}
    assert await pending(store) == {}
    # and a second repair counts nothing twice
    assert await other_store.notifications.repair_counters(after_s=0) == 0
    assert await drift(store) == {}


async def test_a_killed_intake_and_killed_outcomes_are_counted_with_processing_time(
    store: Store, other_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = [doc(i) for i in range(5)]
    killed(store, monkeypatch)
    await store.notifications.intend_intake(docs)
    await store.notifications.insert(docs[:4])  # one of them never stored
    jobs = [job_of(d) for d in docs[:4]]
    await other_store.rounds.claim(jobs, "w1")  # settled: another process
    await store.rounds.record_outcomes([outcome(j, 40 + i) for i, j in enumerate(jobs)], "w1")
    assert await other_store.notifications.repair_counters(after_s=0) == 8
    stats = await store.counters.of("acme")
    assert stats.total == 4
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "SENT": 4}
    assert stats.processing_count == 4
    assert stats.processing_ms_sum == sum(
        d["processingTimeMs"] for d in await store.notifications.get_many([d["_id"] for d in docs])
    )
    assert await drift(store) == {}


async def test_a_tally_records_each_kind_as_a_short_code_and_its_suffix_once(
    store: Store,
) -> None:
    jobs = await queued(store, 40)
    tally = Tally()
    for i, j in enumerate(jobs):
        kind = ("SMS" if i % 2 else "EMAIL", "HIGH" if i % 4 < 2 else "LOW")
        tally.moved(j.tenant_id, j.id, ":w1:p", "QUEUED", "PROCESSING", kind=kind)
    await store.counters.intend(tally)
    entry = (await pending(store))[tally.id]
    assert entry["sx"] == [":w1:p"]
    assert sorted(entry["kinds"]) == [
        "0|QUEUED|PROCESSING|EMAIL|HIGH|",
        "0|QUEUED|PROCESSING|EMAIL|LOW|",
        "0|QUEUED|PROCESSING|SMS|HIGH|",
        "0|QUEUED|PROCESSING|SMS|LOW|",
    ]
    # 12 bytes of id and 2 of kind per notification, and little else
    assert len(bson.encode(entry)) < 40 * 14 + 300


async def test_a_tally_recorded_by_an_earlier_version_is_repaired(
    store: Store, other_store: Store
) -> None:
    """Before 2026-12-07 a kind was recorded as its deltas by name: a tally left pending by
    a process of that version (killed during an upgrade) is still counted."""
    jobs = await queued(store, 3)
    entry = {
        "at": datetime.now(UTC) - timedelta(minutes=1),
        "ids": Binary(b"".join(ObjectId(j.id).binary for j in jobs)),
        "k": Binary(array("H", [0, 0, 0]).tobytes()),
        "kinds": [
            {
                "s": ":w1:p",
                "inc": {
                    "byStatus.QUEUED": -1,
                    "byStatus.PROCESSING": 1,
                    facet("QUEUED", ("SMS", "HIGH")): -1,
                    facet("PROCESSING", ("SMS", "HIGH")): 1,
                },
            }
        ],
    }
    await store.db[STATS].update_one({"_id": "acme"}, {"$set": {"pending.old1": entry}})
    await stepped(store, jobs[:2], "w1")  # two of its three claims landed, then it died
    assert await other_store.notifications.repair_counters(after_s=30) == 2
    assert (await store.counters.of("acme")).by_status == {"QUEUED": 1, "PROCESSING": 2}
    assert await drift(store) == {}


def failed(job: DeliveryJob) -> Outcome:
    end = datetime.now(UTC)
    return Outcome(
        job,
        Status.FAILED,
        end - timedelta(milliseconds=5),
        end,
        "rejected",
        provider="sms-a",
        error="rejected",
        dead_reason="permanent",
    )


async def test_outcomes_recorded_with_their_claims_are_counted_once_by_one_settle(
    store: Store, other_store: Store
) -> None:
    jobs = await queued(store, 6)
    outcomes = Tally()
    won = (await store.rounds.claim_rounds(jobs, "w1", outcomes=outcomes)).won
    assert won == {j.id for j in jobs}
    # one write recorded both: the claims' tally (settled since) and the outcomes'
    assert list(await pending(store)) == [outcomes.id]
    stored = await store.rounds.record_outcomes(
        [outcome(j, 30) for j in jobs[:4]], "w1", tally=outcomes
    )
    stored |= await store.rounds.record_outcomes(
        [failed(j) for j in jobs[4:]], "w1", tally=outcomes
    )
    assert stored == won
    # nothing counted until the batch's settle
    assert (await store.counters.of("acme")).by_status.get("PROCESSING") == 6
    await store.rounds.settle_outcomes(outcomes, stored)
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "SENT": 4, "FAILED": 2}
    assert stats.processing_count == 4
    assert await pending(store) == {}
    assert await other_store.notifications.repair_counters(after_s=0) == 0
    assert await drift(store) == {}


async def test_outcomes_recorded_with_their_claims_are_counted_by_their_steps_status(
    store: Store, other_store: Store
) -> None:
    """The worker dies after storing its outcomes, before the settle: the repair reads what
    each outcome was from its step, and the processing time of the SENT ones."""
    jobs = await queued(store, 5)
    outcomes = Tally()
    await store.rounds.claim_rounds(jobs, "w1", outcomes=outcomes)
    await store.rounds.record_outcomes(
        [outcome(j, 40 + i) for i, j in enumerate(jobs[:3])] + [failed(jobs[3])],
        "w1",
        tally=outcomes,
    )  # jobs[4]: still being delivered when the worker died
    assert await drift(store) == {
        "PROCESSING": 4,
        "SENT": -3,
        "FAILED": -1,
        "PROCESSING/SMS/HIGH": 4,
        "SENT/SMS/HIGH": -3,
        "FAILED/SMS/HIGH": -1,
    }
    assert await other_store.notifications.repair_counters(after_s=0) == 4
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 1, "SENT": 3, "FAILED": 1}
    assert stats.processing_count == 3
    assert stats.processing_ms_sum == sum(  # of the SENT ones, as a settle counts it
        d["processingTimeMs"]
        for d in await store.notifications.get_many([ObjectId(j.id) for j in jobs])
        if d["status"] == "SENT"
    )
    assert await drift(store) == {}
    # the one still out is looked for on later passes: a late outcome is counted then
    await store.rounds.record_outcomes([outcome(jobs[4], 90)], "w1", tally=outcomes)
    assert await other_store.notifications.repair_counters(after_s=0) == 1
    assert await drift(store) == {}
    assert (await store.counters.of("acme")).by_status["SENT"] == 4


async def test_a_writer_killed_before_its_document_writes_counts_nothing(
    store: Store, other_store: Store
) -> None:
    jobs = await queued(store, 5)
    tally = await claiming(store, jobs)  # then the process dies
    assert list(await pending(store)) == [tally.id]
    assert await other_store.notifications.repair_counters(after_s=0) == 0
    # kept, in case its writer is only slow, until it is too old to matter
    assert await pending(store) != {}
    await other_store.notifications.repair_counters(after_s=0, keep_s=0)
    assert await pending(store) == {}
    assert await drift(store) == {}


async def test_a_slow_writer_that_writes_after_the_repair_looked_is_counted_once(
    store: Store, other_store: Store
) -> None:
    jobs = await queued(store, 6)
    tally = await claiming(store, jobs)
    # the repair looks before the (slow) writer's document writes: nothing to count yet
    assert await other_store.notifications.repair_counters(after_s=0) == 0
    await stepped(store, jobs[:4], "w1")
    # the writer settles: the repair took its tally over, so it does nothing
    await store.counters.settle(tally, {j.id for j in jobs[:4]})
    assert (await store.counters.of("acme")).by_status.get("PROCESSING", 0) == 0
    # the next repair finds the steps written meanwhile
    assert await other_store.notifications.repair_counters(after_s=0) == 4
    assert await drift(store) == {}
    assert await other_store.notifications.repair_counters(after_s=0) == 0
    assert await drift(store) == {}


async def test_a_writer_and_repairs_racing_count_each_step_once(
    store: Store, other_store: Store, settings: Settings
) -> None:
    third = Store.connect(settings.mongodb_url, settings.mongodb_database)
    jobs = await queued(store, 10)
    try:
        for round_ in range(5):
            tally = Tally()
            token = f"w{round_}"
            for j in jobs:
                tally.moved(j.tenant_id, j.id, f":{token}:p", "QUEUED", "PROCESSING", kind=j.kind)
            await store.counters.intend(tally)
            await stepped(store, jobs, token)
            await asyncio.gather(
                store.counters.settle(tally, {j.id for j in jobs}),
                other_store.notifications.repair_counters(after_s=0),
                third.notifications.repair_counters(after_s=0),
            )
            assert await drift(store) == {}, round_
            assert await pending(store) == {}
            # back to QUEUED for the next round, counted as such
            await store.notifications.collection.update_many(
                {"_id": {"$in": [ObjectId(j.id) for j in jobs]}}, {"$set": {"status": "QUEUED"}}
            )
            kind = jobs[0].kind
            await store.counters.add(
                {
                    "acme": Counter(
                        {
                            "byStatus.QUEUED": 10,
                            "byStatus.PROCESSING": -10,
                            facet("QUEUED", kind): 10,
                            facet("PROCESSING", kind): -10,
                        }
                    )
                }
            )
    finally:
        await third.close()


async def test_a_released_claim_is_counted_by_its_step(
    store: Store, other_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = await queued(store, 3)
    await store.rounds.claim(jobs, "w1")
    killed(store, monkeypatch)
    await store.rounds.release(jobs, "w1")
    d = await store.notifications.collection.find_one({"_id": ObjectId(jobs[0].id)})
    assert d is not None
    assert d["status"] == "QUEUED"
    assert [s["_id"].split(":", 1)[1] for s in d["timeline"]] == ["0:0", "0:1", "w1:p", "w1:r"]
    assert await other_store.notifications.repair_counters(after_s=0) == 3
    assert await drift(store) == {}


async def test_a_step_another_writer_pushed_does_not_count_for_a_losers_tally(
    store: Store, other_store: Store
) -> None:
    [job] = await queued(store, 1)
    oid = ObjectId(job.id)
    # the loser of two cancels racing recorded its tally, then died before its update
    loser = Tally()
    loser.moved("acme", oid, ":cancel", "QUEUED", "CANCELLED", kind=job.kind, by=True)
    await store.counters.intend(loser)
    cancelled, reason = await store.notifications.cancel("acme", oid)  # the winner
    assert cancelled is not None
    assert reason is None
    await other_store.notifications.repair_counters(after_s=0, keep_s=0)
    stats = await store.counters.of("acme")
    assert stats.by_status[Status.CANCELLED.value] == 1
    assert await drift(store) == {}


async def test_tallies_settled_together_when_the_repair_took_one_count_each_once(
    store: Store, other_store: Store
) -> None:
    """What intake's records do: several commits' tallies in one update; one of them was
    repaired meanwhile (its process stalled past the threshold)."""
    first, second = [doc(i) for i in range(3)], [doc(i) for i in range(3, 5)]
    tallies = [await store.notifications.intend_intake(d) for d in (first, second)]
    await store.notifications.insert(first + second)
    # the repair looks at the first tally only (the second is younger than after_s)
    await store.db[STATS].update_one(
        {"_id": "acme"},
        {"$set": {f"pending.{tallies[1].id}.at": datetime.now(UTC) + timedelta(hours=1)}},
    )
    assert await other_store.notifications.repair_counters(after_s=0) == 3
    await store.counters.settle_many(
        [
            (tallies[0], {str(d["_id"]) for d in first}),
            (tallies[1], {str(d["_id"]) for d in second}),
        ]
    )
    stats = await store.counters.of("acme")
    assert stats.total == 5
    assert stats.by_status == {"QUEUED": 5}
    assert await pending(store) == {}
    assert await drift(store) == {}


async def test_the_facets_follow_every_notification_by_status_channel_and_priority(
    store: Store,
) -> None:
    """What a list filtered on several of status, type and priority is counted from."""
    docs = [doc(i, priority=Priority.LOW if i % 3 == 0 else Priority.HIGH) for i in range(9)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    jobs = [job_of(d) for d in docs]
    await store.rounds.claim(jobs[:5], "w1")
    await store.rounds.record_outcomes([outcome(j, 30) for j in jobs[:2]], "w1")
    stats = await store.counters.of("acme")
    assert stats.by_facet is not None
    assert {k: n for k, n in stats.by_facet.items() if n} == {
        ("SENT", "SMS", "LOW"): 1,  # 0
        ("SENT", "SMS", "HIGH"): 1,  # 1
        ("PROCESSING", "SMS", "HIGH"): 2,  # 2, 4
        ("PROCESSING", "SMS", "LOW"): 1,  # 3
        ("QUEUED", "SMS", "HIGH"): 3,  # 5, 7, 8
        ("QUEUED", "SMS", "LOW"): 1,  # 6
    }
    assert stats.matching({"status": "PROCESSING", "priority": "HIGH"}) == 2
    assert stats.matching({"type": "SMS", "priority": "LOW"}) == 3
    assert stats.matching({"status": "SENT", "type": "EMAIL"}) == 0
    assert await drift(store) == {}


async def test_a_stats_document_from_before_the_facets_says_nothing_of_them(
    store: Store,
) -> None:
    """Its facets would count only what moved since the upgrade: neither the lists nor
    reconcile's drift read them."""
    await store.db[STATS].insert_one({"_id": "acme", "total": 1, "byStatus": {"QUEUED": 1}})
    [d] = [doc(0)]
    await store.notifications.insert([d])
    await store.rounds.claim([job_of(d)], "w1")
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 1}
    assert stats.by_facet is None
    assert stats.matching({"status": "PROCESSING", "type": "SMS"}) is None
    assert await drift(store) == {}
